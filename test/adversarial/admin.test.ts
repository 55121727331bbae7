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
    ["/admin/backup", "/admin/poll/shopify", "/admin/poll/facebook"].flatMap((path) =>
      headersFor.map(([name, headers]) => ({
        name: `${path} with ${name}`,
        status: 401,
        send: () =>
          call(name.includes("query") ? `${path}?token=test-admin-token-0123456789` : path, {
            method: "POST",
            headers,
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
