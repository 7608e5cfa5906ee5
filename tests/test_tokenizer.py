"""Tokenizer: ids, case folding, IUPAC -> N, reverse complement, clear errors."""
import numpy as np
import pytest

from dnahnet.tokenizer import VOCAB, decode, encode, reverse_complement


def test_ids_and_round_trip():
    ids = encode("ACGTN")
    assert ids.dtype == np.uint8 and ids.tolist() == [0, 1, 2, 3, 4]
    assert decode(ids) == "ACGTN" and VOCAB == "ACGTN"
    assert encode(b"GATTACA").tolist() == encode("GATTACA").tolist()
    assert encode("").size == 0 and decode(np.zeros(0, np.uint8)) == ""


def test_lowercase_folds_and_iupac_becomes_N():
    assert decode(encode("acgtn")) == "ACGTN"
    assert decode(encode("RYKMSWBDHVrykmswbdhv")) == "N" * 20
    assert decode(encode("ACGU")) == "ACGT"


def test_bad_characters_are_named():
    with pytest.raises(ValueError) as err:
        encode("ACGT-AC*G1")
    message = str(err.value)
    assert "'*'" in message and "'-'" in message and "'1'" in message and "position 4" in message
    with pytest.raises(ValueError, match="non-nucleotide"):
        encode("ACGTé")
    with pytest.raises(ValueError, match="0..4"):
        decode(np.array([0, 7]))


def test_reverse_complement_strings_and_ids():
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("aacg") == "CGTT"
    assert reverse_complement(encode("AAC")).tolist() == encode("GTT").tolist()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 1000).astype(np.uint8)
    assert np.array_equal(reverse_complement(reverse_complement(ids)), ids)  # involution
    s = decode(ids)
    assert reverse_complement(reverse_complement(s)) == s


def test_encode_is_vectorised_on_megabases():
    seq = "ACGTacgtN" * 200_000  # 1.8 Mb: a python loop would take seconds
    ids = encode(seq)
    assert ids.shape == (1_800_000,) and ids[:9].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4]
