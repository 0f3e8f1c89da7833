// A chat's prompt: the model's chat template when it has one; otherwise (a base model) a plain
// transcript it continues, "User: ...\nAssistant:", with stops where the next turn would begin.
import { SpecdecError } from "./errors.js";
import type { ChatMessage, Model } from "./model.js";

export function chatPrompt(model: Model, messages: ChatMessage[]): { prompt: string; stop: string[] } {
  try {
    return { prompt: model.applyChatTemplate(messages), stop: [] };
  } catch (err) {
    if (!(err instanceof SpecdecError) || err.code !== "NO_CHAT_TEMPLATE") throw err;
  }
  const name = (role: string) => role.charAt(0).toUpperCase() + role.slice(1);
  const prompt = messages.map((m) => `${name(m.role)}: ${m.content}\n`).join("") + "Assistant:";
  return { prompt, stop: ["\nUser:", "\nSystem:"] };
}
