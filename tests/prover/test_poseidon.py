import pytest
from py_ecc.bn128 import curve_order

from ax0n.zk.poseidon import FIELD, pack_signed, poseidon, to_field, vector_hash


def test_field_is_bn254_scalar_field() -> None:
    assert curve_order == FIELD


def test_poseidon_matches_circomlib_vector() -> None:
    # circomlibjs poseidon([1, 2])
    assert poseidon([1, 2]) == 0x115CC0F5E7D690413DF64C6B9662E9CF2A3617F2743245519E19607A4417189A


def test_poseidon_arity_and_negative_values() -> None:
    with pytest.raises(ValueError):
        poseidon([])
    with pytest.raises(ValueError):
        poseidon(list(range(13)))
    assert poseidon([-1]) == poseidon([FIELD - 1])


def test_vector_hash_chains_chunks_of_eleven() -> None:
    values = list(range(1, 15))
    first = poseidon([14, *values[:11]])
    assert vector_hash(values) == poseidon([first, *values[11:], *[0] * 8])
    assert vector_hash([5]) != vector_hash([5, 0])  # the length prefix separates zero padding


def test_pack_signed_round_trip_and_bounds() -> None:
    packed = pack_signed([-128, 127, 0], 8, 31)
    assert packed == [0 + (255 << 8) + (128 << 16)]
    with pytest.raises(ValueError):
        pack_signed([128], 8, 31)
    assert to_field(-5) == FIELD - 5
