"""Nucleotide tokenizer: VOCAB "ACGTN" -> ids 0..4 with a numpy lookup table (fast on whole genomes).

Lowercase folds to uppercase; U reads as T; the other IUPAC codes (R Y K M S W B D H V) read as N.
Anything else (digits, "-", "*", spaces) is an error that names the offending characters.
"""
import numpy as np

VOCAB = "ACGTN"
VOCAB_SIZE = len(VOCAB)
N_ID = VOCAB.index("N")
_IUPAC_AMBIGUOUS = "RYKMSWBDHVN"

_ENCODE = np.full(256, 255, dtype=np.uint8)  # 255 = not allowed
for _i, _ch in enumerate("ACGT"):
    _ENCODE[ord(_ch)] = _ENCODE[ord(_ch.lower())] = _i
_ENCODE[ord("U")] = _ENCODE[ord("u")] = VOCAB.index("T")
for _ch in _IUPAC_AMBIGUOUS:
    _ENCODE[ord(_ch)] = _ENCODE[ord(_ch.lower())] = N_ID
_DECODE = np.frombuffer(VOCAB.encode("ascii"), dtype=np.uint8)
_COMPLEMENT_IDS = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A<->T, C<->G, N<->N


def _as_bytes(seq) -> np.ndarray:
    if isinstance(seq, str):
        try:
            seq = seq.encode("ascii")
        except UnicodeEncodeError:
            bad = sorted({ch for ch in seq if ord(ch) > 127})
            raise ValueError(f"sequence contains non-nucleotide characters: {bad!r}") from None
    return np.frombuffer(bytes(seq), dtype=np.uint8)


def encode(seq) -> np.ndarray:
    """str | bytes -> np.uint8 array of ids in 0..4. Raises ValueError naming any characters that are not bases."""
    raw = _as_bytes(seq)
    ids = _ENCODE[raw]
    bad = ids == 255
    if bad.any():
        chars = sorted({chr(c) for c in np.unique(raw[bad])})
        first = int(np.argmax(bad))
        raise ValueError(f"sequence contains {int(bad.sum())} non-nucleotide character(s) {chars!r} "
                         f"(first at position {first}); allowed: ACGTN, U, IUPAC codes {_IUPAC_AMBIGUOUS}, any case")
    return ids


def decode(ids) -> str:
    """ids (0..4) -> uppercase string."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= VOCAB_SIZE):
        raise ValueError(f"token ids must be in 0..{VOCAB_SIZE - 1}")
    return _DECODE[ids.astype(np.intp)].tobytes().decode("ascii")


def reverse_complement(seq):
    """Reverse complement of a string (returned uppercase, normalised like `encode`) or of an id array."""
    if isinstance(seq, (str, bytes)):
        return decode(reverse_complement(encode(seq)))
    ids = np.asarray(seq)
    return _COMPLEMENT_IDS[ids[::-1].astype(np.intp)]
