export { Ax0nClient, Ax0nStream } from "./client.js";
export type { Chunk, ClientOptions, Evidence, InferenceResult, InferParams, ModelInfo } from "./client.js";
export * from "./errors.js";
export { address, canonicalInput, digest, promptHash, sign } from "./signing.js";
export type { ChatMessage, RequestFields, SignedExtension } from "./signing.js";
