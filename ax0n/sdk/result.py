"""What the SDK returns: an inference result with its evidence, and streamed chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ax0n.v1 import types_pb2

if TYPE_CHECKING:
    from ax0n.sdk.verify import Verification


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed piece of output."""

    delta: str
    index: int
    token_ids: tuple[int, ...]
    done: bool
    finish_reason: str

    @classmethod
    def of(cls, c: types_pb2.TokenChunk) -> Chunk:
        return cls(c.delta, c.index, tuple(c.token_ids), c.done, c.finish_reason)


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """A finalized result: the output, the signed request it answers, and the evidence.

    `proof` is the 288-byte Groth16 envelope for zk-tier models; for LLM-tier models it is the receipt's
    activation fingerprint (the settlement batch's envelope and inclusion path come with `settlement`).
    """

    request: types_pb2.InferenceRequest  # as signed by this client
    raw: types_pb2.InferenceResult
    verification: Verification | None = None  # set when the result was verified locally

    @property
    def request_id(self) -> bytes:
        return bytes(self.raw.request_id)

    @property
    def output(self) -> str:
        return self.raw.output

    @property
    def tier(self) -> int:
        return self.raw.receipt.tier

    @property
    def proof(self) -> bytes | types_pb2.Fingerprint | None:
        if self.raw.receipt.tier == types_pb2.TIER_ZK:
            return bytes(self.raw.proof.envelope) if self.raw.HasField("proof") else None
        return self.raw.receipt.fingerprint if self.raw.receipt.HasField("fingerprint") else None

    @property
    def receipt(self) -> types_pb2.Receipt:
        return self.raw.receipt

    @property
    def certificate(self) -> types_pb2.QuorumCertificate | None:
        return self.raw.certificate if self.raw.HasField("certificate") else None

    @property
    def settlement(self) -> types_pb2.Settlement | None:
        return self.raw.settlement if self.raw.HasField("settlement") else None

    @property
    def tx_hash(self) -> str | None:
        """The settlement transaction hash (0x hex) once the receipt's batch settled on L1, else None."""
        s = self.settlement
        return "0x" + bytes(s.tx_hash).hex() if s is not None and s.tx_hash else None
