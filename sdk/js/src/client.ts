/** The ax0n client over the router's OpenAI-compatible HTTP API (chat/completions, completions, models, SSE). */
import { randomBytes } from "node:crypto";

import { Ax0nError, errorFrom } from "./errors.js";
import { type ChatMessage, DEVNET_SETTLEMENT, type RequestFields, sign } from "./signing.js";

export interface ClientOptions {
  /** The router's HTTP base URL, e.g. `http://127.0.0.1:8080` (the `/v1` paths are appended). */
  baseURL: string;
  /** Sign every request with this key (EIP-712); its escrow pays. */
  privateKey?: string;
  /** Or: an API key the router binds to an escrow account (the router signs for it). */
  apiKey?: string;
  chainId?: number;
  /** The deployment's Settlement address requests are signed for (default: the devnet's). */
  settlement?: string;
  /** Longest the executor may take to produce the whole output (signed). */
  maxLatencyMs?: number;
  /** Seconds from now to the signed deadline for the quorum certificate. */
  deadlineS?: number;
  fetch?: typeof fetch;
}

export interface InferParams {
  model: string;
  /** A plain prompt (`/v1/completions`), or `messages` (`/v1/chat/completions`). */
  prompt?: string;
  messages?: ChatMessage[];
  maxTokens?: number;
  /** 0 or absent: greedy decoding. */
  temperature?: number;
  topP?: number;
  stop?: string[];
  /** Wei; default: the model's base fee for `maxTokens`. */
  feeCap?: bigint;
  signal?: AbortSignal;
}

export interface ModelInfo {
  id: string;
  tier: string;
  commitment: string;
  parameters: number;
  pricePer1kTokens: bigint;
}

/** Evidence objects as the router serialises them (protobuf JSON: camelCase, bytes base64). */
export type Evidence = Record<string, unknown>;

export interface InferenceResult {
  requestId: string;
  output: string;
  finishReason: string;
  tier: string;
  /** zk tier: the 288-byte Groth16 envelope (0x hex); LLM tier: the receipt's activation fingerprint. */
  proof: string | Evidence | null;
  receipt: Evidence | null;
  certificate: Evidence | null;
  settlement: Evidence | null;
  /** The L1 settlement transaction (0x hex) once settled. */
  txHash: string | null;
  route: Evidence | null;
}

export interface Chunk {
  delta: string;
  finishReason: string | null;
}

const hexOf = (b64: unknown): string => `0x${Buffer.from(String(b64), "base64").toString("hex")}`;

function resultOf(body: Record<string, any>, text: string, finishReason: string): InferenceResult {
  const ev = (body.ax0n ?? {}) as Record<string, any>;
  const receipt = (ev.receipt as Evidence | undefined) ?? null;
  const tier = (receipt?.tier as string | undefined) ?? "TIER_UNSPECIFIED";
  const proof =
    tier === "TIER_ZK"
      ? ev.proof?.envelope
        ? hexOf(ev.proof.envelope)
        : null
      : ((receipt?.fingerprint as Evidence | undefined) ?? null);
  const settlement = (ev.settlement as Evidence | undefined) ?? null;
  return {
    requestId: `0x${ev.request_id ?? ""}`,
    output: text,
    finishReason,
    tier,
    proof,
    receipt,
    certificate: (ev.certificate as Evidence | undefined) ?? null,
    settlement,
    txHash: settlement?.txHash ? hexOf(settlement.txHash) : null,
    route: (ev.route as Evidence | undefined) ?? null,
  };
}

/** An async iterable of chunks; after the loop, `result` holds the final result with its evidence. */
export class Ax0nStream implements AsyncIterable<Chunk> {
  result: InferenceResult | null = null;

  constructor(
    private readonly response: Response,
    private readonly chat: boolean,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Chunk> {
    const reader = this.response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    const text: string[] = [];
    let finish = "stop";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") {
          if (this.result === null) throw new Ax0nError("the router ended the stream without a final result");
          return;
        }
        const doc = JSON.parse(data);
        if (doc.error) throw errorFrom(this.response.status, doc);
        const choice = doc.choices?.[0] ?? {};
        const delta: string = (this.chat ? choice.delta?.content : choice.text) ?? "";
        if (choice.finish_reason) finish = choice.finish_reason;
        if (doc.ax0n) {
          this.result = resultOf(doc, text.join(""), finish);
        } else if (delta) {
          text.push(delta);
          yield { delta, finishReason: choice.finish_reason ?? null };
        }
      }
    }
    throw new Ax0nError("the router closed the stream before [DONE]");
  }
}

export class Ax0nClient {
  readonly baseURL: string;
  readonly chainId: number;
  readonly settlement: string;
  private readonly options: ClientOptions;
  private readonly fetch: typeof fetch;
  private modelCache = new Map<string, ModelInfo>();

  constructor(options: ClientOptions) {
    if (!options.privateKey && !options.apiKey) throw new Ax0nError("pass privateKey (signed requests) or apiKey");
    this.options = options;
    this.baseURL = options.baseURL.replace(/\/+$/, "");
    this.chainId = options.chainId ?? 31337;
    this.settlement = options.settlement ?? DEVNET_SETTLEMENT;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  private async call(path: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetch(`${this.baseURL}${path}`, init);
    } catch (err) {
      throw new Ax0nError(`cannot reach the router at ${this.baseURL}: ${(err as Error).message}`, 0, "UNAVAILABLE");
    }
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw errorFrom(response.status, body, response.headers.get("retry-after"));
    }
    return response;
  }

  /** The active registered models (`GET /v1/models`). */
  async models(): Promise<ModelInfo[]> {
    const response = await this.call("/v1/models", { method: "GET", headers: this.headers() });
    const body = (await response.json()) as { data: Array<{ id: string; ax0n: Record<string, any> }> };
    const models = body.data.map((m) => ({
      id: m.id,
      tier: String(m.ax0n.tier),
      commitment: `0x${m.ax0n.commitment}`,
      parameters: Number(m.ax0n.parameters),
      pricePer1kTokens: BigInt(m.ax0n.price_per_1k_tokens),
    }));
    this.modelCache = new Map(models.map((m) => [m.id, m]));
    return models;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { "content-type": "application/json" };
    if (this.options.apiKey) h.authorization = `Bearer ${this.options.apiKey}`;
    return h;
  }

  private async feeCap(model: string, maxTokens: number): Promise<bigint> {
    if (!this.modelCache.has(model)) await this.models();
    const info = this.modelCache.get(model);
    if (!info) return 0n; // the router answers NOT_FOUND with its own message
    return (info.pricePer1kTokens * BigInt(maxTokens) + 999n) / 1000n;
  }

  /** The OpenAI body for `params`, signed with the client's key when it has one. */
  async body(params: InferParams, stream: boolean): Promise<Record<string, unknown>> {
    const chat = params.messages !== undefined;
    const maxTokens = params.maxTokens ?? 256;
    const temperature = params.temperature ?? 0;
    const body: Record<string, unknown> = { model: params.model, max_tokens: maxTokens, stream };
    if (chat) body.messages = params.messages;
    else body.prompt = params.prompt ?? "";
    if (temperature !== 0) {
      body.temperature = temperature;
      body.top_p = params.topP ?? 1;
    }
    if (params.stop?.length) body.stop = params.stop;
    if (this.options.privateKey) {
      const fields: RequestFields = {
        modelId: params.model,
        prompt: chat ? "" : (params.prompt ?? ""),
        messages: chat ? params.messages!.map((m) => ({ role: m.role, content: m.content })) : [],
        sampling: {
          greedy: temperature === 0,
          temperature,
          topP: temperature === 0 ? 0 : (params.topP ?? 1),
          topK: 0,
          stop: params.stop ?? [],
        },
        maxTokens,
        maxLatencyMs: this.options.maxLatencyMs ?? 60_000,
        feeCap: params.feeCap ?? (await this.feeCap(params.model, maxTokens)),
        nonce: randomBytes(8).readBigUInt64BE() >> 1n,
        deadline: BigInt(Math.floor(Date.now() / 1000) + (this.options.deadlineS ?? 300)),
        chainId: BigInt(this.chainId),
        settlement: this.settlement,
      };
      body.ax0n = sign(fields, this.options.privateKey);
    }
    return body;
  }

  private path(params: InferParams): string {
    return params.messages !== undefined ? "/v1/chat/completions" : "/v1/completions";
  }

  /** Run one inference; resolves with the finalized result (after the quorum certificate). */
  async infer(params: InferParams): Promise<InferenceResult> {
    const body = await this.body(params, false);
    const response = await this.call(this.path(params), {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify(body),
      signal: params.signal,
    });
    const doc = (await response.json()) as Record<string, any>;
    const choice = doc.choices?.[0] ?? {};
    const text: string = params.messages !== undefined ? (choice.message?.content ?? "") : (choice.text ?? "");
    return resultOf(doc, text, choice.finish_reason ?? "stop");
  }

  /** Stream an inference: `for await (const chunk of await client.stream(...))`, then `stream.result`. */
  async stream(params: InferParams): Promise<Ax0nStream> {
    const body = await this.body(params, true);
    const response = await this.call(this.path(params), {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify(body),
      signal: params.signal,
    });
    return new Ax0nStream(response, params.messages !== undefined);
  }
}
