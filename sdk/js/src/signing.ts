/**
 * EIP-712 request signing, byte-for-byte the scheme of ax0n/request.py (the router verifies it).
 *
 *   promptHash = keccak256(canonical input JSON)       (prompt or messages, and sampling)
 *   digest     = keccak256(0x19 0x01 ‖ domainSeparator(chainId, settlement) ‖ hashStruct(InferenceRequest))
 *
 * The domain's verifyingContract is the deployment's Settlement address: a signature is good for one deployment.
 *   requestId  = keccak256(digest ‖ client address)
 */
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";

export interface ChatMessage {
  role: string;
  content: string;
}

/** Sampling as the router rebuilds it from an OpenAI body (ax0n.request.from_openai). */
export interface Sampling {
  greedy: boolean;
  temperature: number;
  topP: number;
  topK: number;
  stop: string[];
}

/** The signed fields of an inference request. */
export interface RequestFields {
  modelId: string;
  prompt: string;
  messages: ChatMessage[];
  sampling: Sampling;
  maxTokens: number;
  maxLatencyMs: number;
  feeCap: bigint;
  nonce: bigint;
  deadline: bigint;
  chainId: bigint;
  /** 0x-hex Settlement address of the deployment the request is for (the EIP-712 verifyingContract). */
  settlement: string;
}

/** The `ax0n` extension object of an OpenAI request body: what the router needs to check the signature. */
export interface SignedExtension {
  client: string;
  signature: string;
  nonce: string;
  deadline: number;
  fee_cap: string;
  max_latency_ms: number;
  chain_id: number;
  settlement: string;
  request_id: string;
}

const REQUEST_TYPE =
  "InferenceRequest(string modelId,bytes32 promptHash,uint32 maxTokens,uint32 maxLatencyMs,uint256 feeCap,uint64 nonce,uint64 deadline,uint64 chainId)";
const DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
/** The devnet's Settlement address (ax0n.spec.answers.DEVNET): where a fresh `ax0n devnet` deploys it. */
export const DEVNET_SETTLEMENT = "0x5fc8d32690cc91d4c39d9d3abcbd16989f875707";

const keccak = (...parts: Uint8Array[]): Uint8Array => keccak_256(concatBytes(...parts));

function u256(value: bigint | number): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 256n) throw new RangeError(`${value} is out of uint256 range`);
  return hexToBytes(v.toString(16).padStart(64, "0"));
}

/** A float as its IEEE-754 float32 big-endian bit pattern in hex (ax0n.request._f32). */
function f32(value: number): string {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, false);
  return bytesToHex(new Uint8Array(view.buffer));
}

/** JSON with sorted keys and no whitespace, as Python's json.dumps(sort_keys=True, separators=(",", ":")). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The canonical bytes of everything that decides the output (ax0n.request.canonical_input). */
export function canonicalInput(req: RequestFields): Uint8Array {
  const s = req.sampling;
  return utf8ToBytes(
    canonicalJson({
      messages: req.messages.map((m) => ({ content: m.content, role: m.role })),
      prompt: req.prompt,
      sampling: { greedy: s.greedy, stop: s.stop, temperature: f32(s.temperature), top_k: s.topK, top_p: f32(s.topP) },
    }),
  );
}

export function promptHash(req: RequestFields): Uint8Array {
  return keccak_256(canonicalInput(req));
}

export function domainSeparator(chainId: bigint, settlement: string): Uint8Array {
  const contract = hexToBytes(strip0x(settlement));
  if (contract.length !== 20) throw new RangeError(`settlement must be a 20-byte address, got ${settlement}`);
  return keccak(
    keccak_256(utf8ToBytes(DOMAIN_TYPE)),
    keccak_256(utf8ToBytes("ax0n")),
    keccak_256(utf8ToBytes("1")),
    u256(chainId),
    new Uint8Array(12),
    contract,
  );
}

export function structHash(req: RequestFields): Uint8Array {
  return keccak(
    keccak_256(utf8ToBytes(REQUEST_TYPE)),
    keccak_256(utf8ToBytes(req.modelId)),
    promptHash(req),
    u256(req.maxTokens),
    u256(req.maxLatencyMs),
    u256(req.feeCap),
    u256(req.nonce),
    u256(req.deadline),
    u256(req.chainId),
  );
}

/** The EIP-712 digest the client signs. */
export function digest(req: RequestFields): Uint8Array {
  return keccak(new Uint8Array([0x19, 0x01]), domainSeparator(req.chainId, req.settlement), structHash(req));
}

function strip0x(hex: string): string {
  return hex.startsWith("0x") ? hex.slice(2) : hex;
}

/** The 20-byte address of a secp256k1 private key. */
export function address(privateKey: string): Uint8Array {
  const pub = secp256k1.getPublicKey(hexToBytes(strip0x(privateKey)), false);
  return keccak_256(pub.slice(1)).slice(12);
}

/** Sign `req` with `privateKey`: the `ax0n` extension for the request's OpenAI body. */
export function sign(req: RequestFields, privateKey: string): SignedExtension {
  const msg = digest(req);
  const client = address(privateKey);
  const rec = secp256k1.sign(msg, hexToBytes(strip0x(privateKey)), { prehash: false, format: "recovered" });
  // noble's recovered format is recovery ‖ r ‖ s; Ethereum's is r ‖ s ‖ v with v = 27 + recovery
  const signature = concatBytes(rec.slice(1), new Uint8Array([27 + rec[0]]));
  return {
    client: `0x${bytesToHex(client)}`,
    signature: `0x${bytesToHex(signature)}`,
    nonce: req.nonce.toString(),
    deadline: Number(req.deadline),
    fee_cap: req.feeCap.toString(),
    max_latency_ms: req.maxLatencyMs,
    chain_id: Number(req.chainId),
    settlement: req.settlement,
    request_id: `0x${bytesToHex(keccak(msg, client))}`,
  };
}
