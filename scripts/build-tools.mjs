// The tools a source build needs: cmake-js and node-addon-api's headers. A development checkout
// has them as devDependencies; an installed package fetches them when it first builds, into
// build/tools, with the npm running the install (the versions are the devDependencies'), so that
// an install whose prebuilt binary fits downloads neither.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TOOLS = ["cmake-js", "node-addon-api"];

function resolveFrom(dir) {
  const require = createRequire(path.join(dir, "package.json"));
  try {
    return {
      cmakeJs: require.resolve("cmake-js/bin/cmake-js"),
      nodeAddonApi: path.dirname(require.resolve("node-addon-api/package.json")),
    };
  } catch {
    return null;
  }
}

/** { cmakeJs: the cmake-js script, nodeAddonApi: node-addon-api's folder (its headers) }. */
export function buildTools() {
  const local = resolveFrom(root);
  if (local) return local;
  const dir = path.join(root, "build", "tools");
  const fetched = resolveFrom(dir);
  if (fetched) return fetched;
  const { devDependencies } = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const specs = TOOLS.map((t) => `${t}@${devDependencies[t]}`);
  console.log(`specdec: fetching the build tools (${specs.join(", ")}) into build/tools`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), '{ "private": true }\n');
  // npm_execpath: the npm running this install script (a .js file), so that Windows needs no shell.
  const npm = process.env.npm_execpath;
  const [cmd, pre] = npm && npm.endsWith(".js") ? [process.execPath, [npm]] : ["npm", []];
  const args = [...pre, "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--ignore-scripts", ...specs];
  execFileSync(cmd, args, { cwd: dir, stdio: "inherit", shell: cmd === "npm" && process.platform === "win32" });
  const tools = resolveFrom(dir);
  if (!tools) throw new Error(`specdec: ${specs.join(" and ")} could not be installed into ${dir}`);
  return tools;
}

// `node scripts/build-tools.mjs`: fetch them now (before going offline, say) and say where they are.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(buildTools()));
}
