// Setup file: each test file's temporary folders go when the file ends.
import { afterAll } from "vitest";

import { removeTempDirs } from "./env.js";

afterAll(removeTempDirs);
