// Chat templates as models ship them: the GGUF's Jinja template (tokenizer.chat_template)
// rendered with @huggingface/jinja, a Jinja engine made for these templates, with what Hugging
// Face's transformers gives them (messages, add_generation_prompt, bos_token, eos_token,
// raise_exception, strftime_now). Rendering matches Python's Jinja2 on widespread templates
// (test/chat-template.test.ts).
import { Environment, Interpreter, Template } from "@huggingface/jinja";

import type { ChatMessage } from "./model.js";

/** The template itself refused the conversation (its raise_exception), e.g. roles that do not alternate. */
export class TemplateRefusal extends Error {}

export interface TemplateInputs {
  bosToken: string;
  eosToken: string;
  addGenerationPrompt: boolean;
  /** The date strftime_now formats (default: now). */
  now?: Date;
}

const compiled = new Map<string, Template>();

function parse(source: string): Template {
  let template = compiled.get(source);
  if (!template) {
    template = new Template(source);
    if (compiled.size >= 16) compiled.delete(compiled.keys().next().value!);
    compiled.set(source, template);
  }
  return template;
}

/**
 * Renders a conversation with a Jinja chat template. A template that refuses a system message
 * (Gemma's, for one) gets the system prompt before the first user message instead.
 * @throws TemplateRefusal when the template refuses the conversation; another Error when the
 * engine cannot parse or run the template
 */
export function renderChatTemplate(source: string, messages: ChatMessage[], inputs: TemplateInputs): string {
  const template = parse(source);
  const now = inputs.now ?? new Date();
  const render = (msgs: ChatMessage[]) => {
    // Template.render's globals, with raise_exception and strftime_now of our own (it would refuse
    // them as variables already declared)
    const env = new Environment();
    const globals: Record<string, unknown> = {
      true: true, false: false, none: null, True: true, False: false, None: null, range,
      raise_exception: (message: unknown) => {
        throw new TemplateRefusal(String(message));
      },
      strftime_now: (format: unknown) => strftime(now, String(format)),
      messages: msgs,
      add_generation_prompt: inputs.addGenerationPrompt,
      bos_token: inputs.bosToken,
      eos_token: inputs.eosToken,
    };
    for (const [key, value] of Object.entries(globals)) env.set(key, value);
    return new Interpreter(env).run(template.parsed).value as string;
  };
  try {
    return render(messages);
  } catch (err) {
    const merged = err instanceof TemplateRefusal ? systemInFirstUser(messages) : null;
    if (!merged) throw err;
    return render(merged);
  }
}

function systemInFirstUser(messages: ChatMessage[]): ChatMessage[] | null {
  if (messages[0]?.role !== "system") return null;
  const rest = messages.slice(1).map((m) => ({ ...m }));
  const user = rest.find((m) => m.role === "user");
  if (user) user.content = `${messages[0].content}\n\n${user.content}`;
  return rest;
}

function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() step must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** Python's strftime for the directives templates use (local time). */
function strftime(date: Date, format: string): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const fields: Record<string, () => string> = {
    d: () => pad(date.getDate()),
    m: () => pad(date.getMonth() + 1),
    Y: () => String(date.getFullYear()),
    y: () => pad(date.getFullYear() % 100),
    B: () => MONTHS[date.getMonth()],
    b: () => MONTHS[date.getMonth()].slice(0, 3),
    A: () => DAYS[date.getDay()],
    a: () => DAYS[date.getDay()].slice(0, 3),
    H: () => pad(date.getHours()),
    M: () => pad(date.getMinutes()),
    S: () => pad(date.getSeconds()),
    "%": () => "%",
  };
  return format.replace(/%(.)/g, (whole, c: string) => fields[c]?.() ?? whole);
}
