export { SpecdecError, type SpecdecErrorCode } from "./errors.js";
export { loadModel, Model, type LoadModelOptions, type ModelInfo, type ChatMessage, type ChatOptions } from "./model.js";
export { Chat, type ChatReply } from "./chat.js";
export { Session, type DrafterStats, type GenerationChunk, type GenerationStats, type StopReason, type TokenLogprob } from "./session.js";
export {
  type SessionOptions,
  type DraftOptions,
  type DrafterOptions,
  type LookupDrafterOptions,
  type RetrievalDrafterOptions,
  type LookaheadDrafterOptions,
  type GenerateOptions,
} from "./options.js";
export { setNumerics, getNumerics, setLogLevel, systemInfo, devices, nativeBinary, type Numerics } from "./config.js";
export type { Device } from "./native.js";
export {
  buildDatastore,
  openDatastore,
  Datastore,
  type DatastoreCorpus,
  type DatastoreProgress,
  type BuildDatastoreOptions,
} from "./datastore.js";
export { deriveDraft, measureDraft, type DeriveDraftOptions, type DerivedDraft, type DraftMeasurement, type MeasureDraftOptions } from "./derive-draft.js";
export { quantizeModel, QUANTIZATION_TYPES, type QuantizationType, type QuantizeOptions } from "./quantize.js";
export { serve, type ServeOptions, type Server, type RequestLogEntry } from "./server.js";
export { serveRpc, type RpcServerOptions, type RpcServer } from "./rpc.js";
