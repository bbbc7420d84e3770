"""The fee rule: what a request must offer, what a receipt charges, and how a charge is split.

Amounts are integers in the token's smallest unit; every division is exact integer arithmetic, so the
SDK, the router, executors, validators, the settler and the contracts (`Fees.sol`) agree to the unit.

    base_fee(price, max_tokens)  = ⌈price · max_tokens / 1000⌉                 the least fee cap a request may sign
    charge(price, tokens, cap)   = min(cap, max(⌊price · tokens / 1000⌋, ⌊cap · base_fee_rate_bps / BPS⌋))
    split(fee)                   = (⌊fee · operator_bps / BPS⌋, ⌊fee · validator_bps / BPS⌋, the rest)

`price` is the model's registered price per 1,000 tokens; `tokens` counts the prompt and the output. The
floor `base_fee_rate_bps` of the signed cap is what every inference pays however short it is: it pays the
mesh (routing, proving, the quorum) for a request that stops after one token.
"""

from __future__ import annotations

from ax0n.spec.params import BPS, MAINNET, Params


def base_fee(price_per_1k: int, max_tokens: int) -> int:
    """The least fee cap a request for `max_tokens` tokens may carry: the model's price for them, rounded up."""
    if price_per_1k < 0 or max_tokens < 0:
        raise ValueError("price and token count must be non-negative")
    return -(-price_per_1k * max_tokens // 1_000)


def charge(price_per_1k: int, tokens: int, fee_cap: int, params: Params = MAINNET) -> int:
    """What a receipt for `tokens` tokens (prompt and output) charges under the client's signed `fee_cap`."""
    if price_per_1k < 0 or tokens < 0 or fee_cap < 0:
        raise ValueError("price, token count and fee cap must be non-negative")
    metered = price_per_1k * tokens // 1_000
    floor = fee_cap * params.base_fee_rate_bps // BPS
    return min(fee_cap, max(metered, floor))


def split(fee: int, params: Params = MAINNET) -> tuple[int, int, int]:
    """(operator, validators, treasury) shares of one fee; the rounding dust goes to the treasury."""
    operator = fee * params.operator_fee_share_bps // BPS
    validators = fee * params.validator_fee_share_bps // BPS
    return operator, validators, fee - operator - validators


def amount(value: str | int, what: str) -> int:
    """A wei amount as signed in a request or receipt (decimal string); ValueError unless it is a uint256."""
    try:
        parsed = int(value or 0)
    except ValueError:
        raise ValueError(f"{what} is not a decimal amount: {value!r}") from None
    if not 0 <= parsed < 2**256:
        raise ValueError(f"{what} is out of uint256 range")
    return parsed
