// typescript-eslint's recommended rules over the worker, its scripts and its tests.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules",
      "dist",
      ".wrangler",
      ".local",
      "bench-results",
      "test-results",
      "worker-configuration.d.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Tests and the drill/bench clients read JSON answers as the platforms and users see them; the
    // worker's own code may not.
    files: ["test/**", "scripts/bench.ts", "scripts/drill.ts", "dev/platform-client.ts", "dev/fakes/**"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    rules: {
      // Unused names are tsc's job (noUnusedLocals), which knows about `_` prefixes.
      "@typescript-eslint/no-unused-vars": "off",
    },
  },
);
