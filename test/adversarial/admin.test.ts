import { describe } from "vitest";
import { call } from "../helpers";
import { attackTable } from "./harness";

const headersFor: [string, Record<string, string>][] = [
  ["no Authorization", {}],
  ["a wrong token", { authorization: "Bearer test-admin-token-0123456780" }],
  ["the token in another case", { authorization: "Bearer TEST-ADMIN-TOKEN-0123456789" }],
  ["an empty Bearer", { authorization: "Bearer " }],
  ["Basic with the token as password", { authorization: `Basic ${btoa("admin:test-admin-token-0123456789")}` }],
  ["the token in a query parameter", {}],
];

describe("admin routes under attack", () => {
  attackTable(
    ["/admin/backup", "/admin/poll/shopify", "/admin/poll/facebook"].flatMap((path, p) =>
      headersFor.map(([name, headers], h) => ({
        name: `${path} with ${name}`,
        status: 401,
        send: () =>
          call(name.includes("query") ? `${path}?token=test-admin-token-0123456789` : path, {
            method: "POST",
            // Each from its own client: wrong tokens are limited per client (admin-token-guesses.test.ts).
            headers: { ...headers, "cf-connecting-ip": `192.0.2.${10 * p + h + 1}` },
          }),
      })),
    ),
  );
});

describe("path tricks towards the admin routes still need the token", () => {
  attackTable(
    ["/../admin/backup", "/health/../admin/backup", "/x/%2e%2e/admin/backup"].map((path) => ({
      name: `POST ${path}`,
      status: 401,
      send: () => call(path, { method: "POST" }),
    })),
  );
});

describe("unknown routes", () => {
  attackTable(
    ["/", "/users/x", "/shopify/", "/.env", "/wp-login.php", "/admin%2Fbackup"].map((path) => ({
      name: `GET ${path}`,
      status: 404,
      send: () => call(path),
    })),
  );
});
