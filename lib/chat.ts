// Chats: a conversation's prompt (the model's chat template, or for a base model a plain
// transcript), and Chat, a conversation on a session of its own that never runs out of context:
// when the history no longer fits, the oldest turns are dropped (the system prompt stays).
import { SpecdecError } from "./errors.js";
import { warnOnce, type ChatMessage, type Model } from "./model.js";
import type { GenerateOptions } from "./options.js";
import type { GenerationChunk, GenerationStats, Session } from "./session.js";

/**
 * A conversation's prompt: the model's chat template when it has one; otherwise (a base model) a
 * plain transcript it continues, "User: ...\nAssistant:", with stops where the next turn would
 * begin, and a warning once per model. `addBos`: whether the tokenizer should add BOS (not when
 * the template wrote it).
 */
export function chatPrompt(model: Model, messages: ChatMessage[]): { prompt: string; stop: string[]; addBos: boolean } {
  const bos = model.info.specialTokens.bos;
  const bosText = bos === null ? "" : model.tokenPiece(bos, { specialTokens: true });
  try {
    const prompt = model.applyChatTemplate(messages);
    return { prompt, stop: [], addBos: bosText === "" || !prompt.startsWith(bosText) };
  } catch (err) {
    if (!(err instanceof SpecdecError) || err.code !== "NO_CHAT_TEMPLATE") throw err;
    warnOnce(model, `${model.path}: ${err.message}: it is chatted with as a plain "User: / Assistant:" transcript`);
  }
  const name = (role: string) => role.charAt(0).toUpperCase() + role.slice(1);
  const prompt = messages.map((m) => `${name(m.role)}: ${m.content}\n`).join("") + "Assistant:";
  return { prompt, stop: ["\nUser:", "\nSystem:"], addBos: true };
}

/** Without maxTokens, at least this share of the context is kept free for the answer. */
const ANSWER_SHARE = 1 / 4;
/** With maxTokens, at most this share is kept free for it (the rest may hold the history). */
const MAX_ANSWER_SHARE = 1 / 2;
/** When turns must go, they go until the prompt takes at most this share of what it may take, so
 * that the next few turns extend the same prompt and reuse its KV cache instead of evaluating it anew. */
const REFILL_SHARE = 3 / 4;

interface Turn {
  user: string;
  assistant: string;
}

/** An answer of {@link Chat.reply}. */
export interface ChatReply {
  /** The assistant's answer. */
  text: string;
  /** Figures of its generation. */
  stats: GenerationStats;
}

/**
 * A conversation with a model on a session of its own ({@link Model.createChat}). Each turn's
 * prompt is the whole conversation in the model's chat template, so the session reuses the KV
 * cache of what it has already seen and the drafters (lookup above all) draft from the
 * conversation. It never runs out of context: before a turn whose prompt would leave less room
 * for the answer than a quarter of the context (or than `maxTokens`, up to half the context), the
 * oldest turns (a user message and its answer) are dropped until the prompt takes at most three
 * quarters of the room it may take; the system prompt always stays. The answer may fill whatever
 * room is left (`stats.stopReason` is then "contextFull"). Only a message that does not fit even
 * alone with the system prompt is an error (CONTEXT_OVERFLOW), and the chat goes on without it.
 */
export class Chat {
  /** The session the chat generates on (its figures, its cache); disposed with the chat. */
  readonly session: Session;
  readonly #system: string | undefined;
  #turns: Turn[] = [];
  #dropped = 0;
  #current = 0;

  /** @internal Use {@link Model.createChat}. */
  constructor(session: Session, system?: string) {
    this.session = session;
    this.#system = system;
  }

  /** The conversation the model sees now: the system prompt and the turns kept. */
  get messages(): ChatMessage[] {
    return this.#messagesOf(this.#turns);
  }

  /** Turns dropped so far to make room. */
  get droppedTurns(): number {
    return this.#dropped;
  }

  /**
   * Sends a user message and streams the answer. A generation aborted by `options.signal` keeps
   * its turn with the answer so far; one superseded by a newer `send` leaves no turn.
   *
   * @throws SpecdecError CONTEXT_OVERFLOW (the message does not fit), ABORTED, DISPOSED, INVALID_ARGUMENT
   */
  async *send(content: string, options: GenerateOptions = {}): AsyncGenerator<GenerationChunk, void, undefined> {
    if (typeof content !== "string") throw new SpecdecError("INVALID_ARGUMENT", "the message must be a string");
    const id = ++this.#current;
    const contextSize = this.session.contextSize;
    const maxTokens = options.maxTokens;
    const reserve = maxTokens === undefined ? Math.ceil(contextSize * ANSWER_SHARE) : Math.min(maxTokens, Math.floor(contextSize * MAX_ANSWER_SHARE));
    const budget = contextSize - reserve;
    let kept = this.#turns;
    let { tokens, stop } = await this.#render(kept, content);
    if (tokens.length > budget) {
      const target = Math.floor(budget * REFILL_SHARE);
      while (kept.length > 0 && tokens.length > target) {
        kept = kept.slice(1);
        ({ tokens, stop } = await this.#render(kept, content));
      }
      if (tokens.length > budget) {
        throw new SpecdecError(
          "CONTEXT_OVERFLOW",
          `the message does not fit: with the system prompt it takes ${tokens.length} tokens; the context holds ${contextSize}, of which ${reserve} are kept for the answer`,
        );
      }
    }
    if (id !== this.#current) throw new SpecdecError("ABORTED", "the message was superseded by a newer one on the same chat");
    this.#dropped += this.#turns.length - kept.length;
    this.#turns = kept;
    const room = contextSize - tokens.length;
    let answer = "";
    let finished = false;
    try {
      for await (const chunk of this.session.generate(tokens, {
        ...options,
        maxTokens: maxTokens !== undefined && maxTokens <= room ? maxTokens : undefined,
        stop: [...(options.stop ?? []), ...stop],
      })) {
        answer += chunk.text;
        yield chunk;
      }
      finished = true;
    } catch (err) {
      if (err instanceof SpecdecError && err.code === "ABORTED" && id === this.#current) finished = true;
      throw err;
    } finally {
      if (finished && id === this.#current) this.#turns.push({ user: content, assistant: answer.trim() });
    }
  }

  /** Sends a user message and returns the whole answer. */
  async reply(content: string, options: GenerateOptions = {}): Promise<ChatReply> {
    let text = "";
    for await (const chunk of this.send(content, options)) text += chunk.text;
    return { text: text.trim(), stats: this.session.stats };
  }

  /** Forgets the turns (the system prompt stays). */
  clear(): void {
    this.#turns = [];
    this.#current++;
  }

  /** Frees the chat's session. */
  dispose(): void {
    this.session.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // The prompt of the kept turns and a new user message, as tokens (the count decides what fits).
  async #render(turns: Turn[], content: string): Promise<{ tokens: number[]; stop: string[] }> {
    const messages = [...this.#messagesOf(turns), { role: "user", content }];
    const { prompt, stop, addBos } = chatPrompt(this.session.model, messages);
    return { tokens: await this.session.model.tokenize(prompt, { addBos, specialTokens: true }), stop };
  }

  #messagesOf(turns: Turn[]): ChatMessage[] {
    const messages: ChatMessage[] = this.#system === undefined ? [] : [{ role: "system", content: this.#system }];
    for (const t of turns) messages.push({ role: "user", content: t.user }, { role: "assistant", content: t.assistant });
    return messages;
  }
}
