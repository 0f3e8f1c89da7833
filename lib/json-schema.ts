// JSON Schema to GBNF, the grammar a generation follows for structured output: the text is then
// one JSON value that matches the schema. The keywords of the schemas apps give models (OpenAI's
// structured outputs, tool parameters) are covered: type (one or several), properties, required,
// additionalProperties, items, prefixItems, minItems, maxItems, enum, const, anyOf, oneOf, a
// single-entry allOf, $ref into $defs / definitions (recursion included), minLength, maxLength.
// Others that constrain values (pattern, minimum, format, ...) are an INVALID_ARGUMENT error
// naming the keyword, never ignored; annotations (title, description, default, ...) are ignored.
// Properties come in the schema's order, the required ones always, the others when the model
// writes them; without additionalProperties: true an object has only the properties listed (as
// OpenAI's strict mode asks). The rules of primitives follow llama.cpp's json-schema-to-grammar,
// but for whitespace (see space).
import { SpecdecError } from "./errors.js";

type Schema = boolean | { [key: string]: unknown };

const PRIMITIVES: Record<string, string> = {
  // one space, or a new line indented by up to 20 spaces (llama.cpp's also allows two new lines
  // and tabs, which small models fill with runs of whitespace)
  space: `| " " | "\\n" [ ]{0,20}`,
  boolean: `("true" | "false") space`,
  char: `[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\bfnrt] | "u" [0-9a-fA-F]{4})`,
  "decimal-part": `[0-9]{1,16}`,
  "integral-part": `[0] | [1-9] [0-9]{0,15}`,
  number: `("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space`,
  integer: `("-"? integral-part) space`,
  null: `"null" space`,
  string: `"\\"" char* "\\"" space`,
  value: `object | array | string | number | boolean | null`,
  object: `"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space`,
  array: `"[" space ( value ("," space value)* )? "]" space`,
};
// What each primitive needs besides itself.
const NEEDS: Record<string, string[]> = {
  number: ["integral-part", "decimal-part", "space"],
  integer: ["integral-part", "space"],
  string: ["char", "space"],
  boolean: ["space"],
  null: ["space"],
  value: ["object", "array", "string", "number", "boolean", "null"],
  object: ["string", "value", "space"],
  array: ["value", "space"],
};

const ANNOTATIONS = new Set([
  "$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
  "$defs", "definitions", "strict", "name",
]);
const HANDLED = new Set([
  "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "enum",
  "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength",
]);

/** A GBNF literal of `text`. */
function literal(text: string): string {
  return `"${text.replace(/[\\"\n\r\t]/g, (c) => ({ "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t" })[c]!)}"`;
}

/** GBNF that makes generations one JSON value matching `schema`. @throws SpecdecError INVALID_ARGUMENT */
export function jsonSchemaToGrammar(schema: unknown): string {
  if (typeof schema !== "boolean" && (schema === null || typeof schema !== "object" || Array.isArray(schema))) {
    throw new SpecdecError("INVALID_ARGUMENT", "jsonSchema must be a JSON Schema object");
  }
  const root = schema as Schema;
  const rules = new Map<string, string>();
  const used = new Set<string>();
  const refs = new Map<string, string>();  // $ref -> rule name

  const invalid = (path: string, message: string): never => {
    throw new SpecdecError("INVALID_ARGUMENT", `jsonSchema${path}: ${message}`);
  };
  const primitive = (name: string): string => {
    if (!used.has(name)) {
      used.add(name);
      for (const need of NEEDS[name] ?? []) primitive(need);
    }
    return name;
  };
  const addRule = (base: string, body: string): string => {
    let name = base.replace(/[^a-zA-Z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "rule";
    if (PRIMITIVES[name] !== undefined || rules.has(name) || name === "root") {
      let i = 1;
      while (rules.has(`${name}-${i}`)) i++;
      name = `${name}-${i}`;
    }
    rules.set(name, body);
    return name;
  };
  const resolve = (ref: string, path: string): Schema => {
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (!match || typeof root !== "object") return invalid(path, `$ref ${JSON.stringify(ref)} must point into #/$defs or #/definitions`);
    const defs = root[match[1]] as Record<string, Schema> | undefined;
    const target = defs?.[decodeURIComponent(match[2]).replace(/~1/g, "/").replace(/~0/g, "~")];
    if (target === undefined) return invalid(path, `$ref ${JSON.stringify(ref)} names no definition`);
    return target;
  };
  const constant = (value: unknown) => `${literal(JSON.stringify(value))} space`;

  // The GBNF expression of a schema (a rule name, or an inline alternation).
  const visit = (s: Schema, path: string, name: string): string => {
    if (s === true) return primitive("value");
    if (s === false) return invalid(path, "the schema false matches nothing");
    if (s === null || typeof s !== "object" || Array.isArray(s)) return invalid(path, "must be a schema object");
    for (const key of Object.keys(s)) {
      if (!HANDLED.has(key) && !ANNOTATIONS.has(key)) invalid(path, `the keyword ${key} is not supported`);
    }
    if (typeof s.$ref === "string") {
      let rule = refs.get(s.$ref);
      if (!rule) {
        rule = addRule(s.$ref.split("/").pop()!, "");
        refs.set(s.$ref, rule);
        rules.set(rule, visit(resolve(s.$ref, path), `${path}.$ref`, rule));
      }
      return rule;
    }
    if (s.const !== undefined) return constant(s.const);
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) return invalid(path, "enum must be a non-empty array");
      return `(${s.enum.map(constant).join(" | ")})`;
    }
    for (const key of ["anyOf", "oneOf"] as const) {
      if (s[key] === undefined) continue;
      const list = s[key];
      if (!Array.isArray(list) || list.length === 0) return invalid(path, `${key} must be a non-empty array`);
      return `(${list.map((alt, i) => visit(alt as Schema, `${path}.${key}[${i}]`, `${name}-${i}`)).join(" | ")})`;
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1) return invalid(path, "allOf is supported with one schema only");
      return visit(s.allOf[0] as Schema, `${path}.allOf[0]`, name);
    }
    const type = s.type;
    if (Array.isArray(type)) {
      return `(${type.map((t, i) => visit({ ...s, type: t }, path, `${name}-${i}`)).join(" | ")})`;
    }
    switch (type) {
      case undefined:
        return s.properties !== undefined ? visit({ ...s, type: "object" }, path, name) : primitive("value");
      case "null":
      case "boolean":
      case "number":
      case "integer":
        return primitive(type);
      case "string":
        return stringRule(s, path, name);
      case "array":
        return arrayRule(s, path, name);
      case "object":
        return objectRule(s, path, name);
      default:
        return invalid(path, `type ${JSON.stringify(type)} is not a JSON Schema type`);
    }
  };

  const count = (s: Record<string, unknown>, key: string, path: string): number | undefined => {
    const x = s[key];
    if (x === undefined) return undefined;
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 10_000) return invalid(path, `${key} must be an integer from 0 to 10000`);
    return x;
  };
  const repeat = (item: string, min: number, max: number | undefined) => {
    // item ("," space item){min-1,max-1}, optional as a whole when min is 0
    if (max === 0) return "";
    const rest = `("," space ${item}){${Math.max(min - 1, 0)},${max === undefined ? "" : max - 1}}`;
    return min === 0 ? `(${item} ${rest})?` : `${item} ${rest}`;
  };

  const stringRule = (s: Record<string, unknown>, path: string, name: string) => {
    const min = count(s, "minLength", path) ?? 0;
    const max = count(s, "maxLength", path);
    if (min === 0 && max === undefined) return primitive("string");
    primitive("char");
    primitive("space");
    return addRule(name, `"\\"" char{${min},${max ?? ""}} "\\"" space`);
  };

  const arrayRule = (s: Record<string, unknown>, path: string, name: string) => {
    primitive("space");
    const min = count(s, "minItems", path) ?? 0;
    const max = count(s, "maxItems", path);
    if (max !== undefined && max < min) invalid(path, "maxItems is below minItems");
    if (s.prefixItems !== undefined) {
      if (!Array.isArray(s.prefixItems)) return invalid(path, "prefixItems must be an array");
      if (s.items !== undefined && s.items !== false) invalid(path, "prefixItems is supported with items: false (or none) only");
      const parts = s.prefixItems.map((p, i) => visit(p as Schema, `${path}.prefixItems[${i}]`, `${name}-${i}`));
      return addRule(name, `"[" space ${parts.join(` "," space `)} "]" space`);
    }
    const item = visit((s.items ?? true) as Schema, `${path}.items`, `${name}-item`);
    return addRule(name, `"[" space ${repeat(item, min, max)} "]" space`);
  };

  const objectRule = (s: Record<string, unknown>, path: string, name: string) => {
    primitive("space");
    const props = (s.properties ?? {}) as Record<string, Schema>;
    if (typeof props !== "object" || Array.isArray(props)) return invalid(path, "properties must be an object");
    const required = new Set((s.required ?? []) as string[]);
    if (!Array.isArray(s.required ?? [])) invalid(path, "required must be an array of property names");
    for (const r of required) if (!(r in props)) invalid(path, `required names ${JSON.stringify(r)}, which is not among the properties`);
    const names = Object.keys(props);
    const additional = s.additionalProperties ?? (names.length === 0 ? true : false);
    if (names.length === 0 && additional === true) return primitive("object");
    const kv = (key: string) =>
      `${literal(JSON.stringify(key))} space ":" space ${visit(props[key], `${path}.properties.${key}`, `${name}-${key}`)}`;
    const pairs = names.map((key) => ({ key, rule: addRule(`${name}-${key}-kv`, kv(key)), required: required.has(key) }));
    if (additional !== false) {
      const value = visit(additional as Schema, `${path}.additionalProperties`, `${name}-additional`);
      pairs.push({ key: "", rule: addRule(`${name}-additional-kv`, `string ":" space ${value}`), required: false });
      primitive("string");
    }
    // The pairs from index i on, the first written one without a leading comma: required ones
    // always, optional ones when written, extra ones (additionalProperties, last) any number.
    const from = (i: number, first: boolean): string => {
      if (i === pairs.length) return "";
      const p = pairs[i];
      if (p.key === "") return first ? `(${p.rule} ("," space ${p.rule})*)?` : `("," space ${p.rule})*`;
      if (p.required) return `${first ? "" : `"," space `}${p.rule} ${from(i + 1, false)}`;
      if (!first) return `("," space ${p.rule})? ${from(i + 1, false)}`;
      return `(${p.rule} ${from(i + 1, false)} | ${from(i + 1, true)})`;
    };
    return addRule(name, `"{" space ${from(0, true)} "}" space`);
  };

  const top = visit(root, "", "root");
  const lines = [`root ::= ${top}`];
  for (const [rule, body] of rules) lines.push(`${rule} ::= ${body}`);
  for (const p of Object.keys(PRIMITIVES)) if (used.has(p)) lines.push(`${p} ::= ${PRIMITIVES[p]}`);
  return lines.join("\n") + "\n";
}

/** GBNF of any JSON object (OpenAI's response_format json_object). */
export const JSON_OBJECT_GRAMMAR = jsonSchemaToGrammar({ type: "object" });
