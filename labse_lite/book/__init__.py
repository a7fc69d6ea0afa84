"""The book's support: presets, claims, the course and its graded
exercises, the reference models' caches, published numbers, grids of runs
and demonstrations.  It builds on the core package (the papers' methods),
which never imports it."""
