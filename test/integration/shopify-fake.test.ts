import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { toHex } from "../../src/lib/encoding";
import { hmacSha256 } from "../../src/lib/signatures";
import { TEST_SECRETS } from "../env";
import { control, fakeState, uniqueShop } from "../helpers";

/** The Shopify fake itself behaves as Shopify documents: what the worker is tested against. */

async function grantedShop(products = 5, plan = "plus") {
  const shop = uniqueShop("fake");
  const token = `shpua_${crypto.randomUUID().replaceAll("-", "")}`;
  await control("shopify", "grant", { shop, access_token: token, products, plan });
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`${env.FAKE_SHOPIFY}/${shop}/admin/api/2026-10/graphql.json`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-shopify-access-token": token },
      body: JSON.stringify({ query, variables }),
    });
    expect(res.status).toBe(200);
    return res.json<any>();
  };
  return { shop, gql };
}

describe("the Shopify fake's GraphQL", () => {
  it("refuses an unknown field as Shopify does", async () => {
    const { gql } = await grantedShop();
    const body = await gql(`{ products(first: 1) { nodes { id colour } } }`);
    expect(body.data).toBeUndefined();
    expect(body.errors[0]).toMatchObject({
      message: "Field 'colour' doesn't exist on type 'Product'",
      extensions: { code: "undefinedField", typeName: "Product", fieldName: "colour" },
    });
    expect(body.extensions.cost.throttleStatus).toMatchObject({ maximumAvailable: 20000, restoreRate: 1000 });
  });

  it("prices a query from its document, refuses one over 1,000 points before running it", async () => {
    const { gql } = await grantedShop(300);
    const query = (n: number) =>
      `{ products(first: ${n}) { nodes { id featuredImage { url } priceRangeV2 { minVariantPrice { amount } maxVariantPrice { amount } } } } }`;
    const refused = await gql(query(250));
    expect(refused.errors[0].extensions).toEqual({ code: "MAX_COST_EXCEEDED", cost: 1252, maxCost: 1000 });
    expect(refused.extensions.cost).toMatchObject({ requestedQueryCost: 1252, actualQueryCost: null });
    expect(refused.extensions.cost.throttleStatus.currentlyAvailable).toBeGreaterThanOrEqual(19_990);
    const ok = await gql(query(100));
    expect(ok.data.products.nodes).toHaveLength(100);
    expect(ok.extensions.cost).toMatchObject({ requestedQueryCost: 502, actualQueryCost: 502 });
  });

  it("charges what came back (actualQueryCost) and nested connections multiply", async () => {
    const { gql } = await grantedShop(3);
    const body = await gql(`{ products(first: 10) { edges { node { id variants(first: 5) { nodes { sku } } } } } }`);
    // requested 2 + 10 × (1 + 2 + 5); actual 2 + 3 × (1 + 2 + 2), as 3 products of 2 variants came back.
    expect(body.extensions.cost).toMatchObject({ requestedQueryCost: 82, actualQueryCost: 17 });
  });

  it("a Standard plan's bucket (2,000 points, 100 a second) answers THROTTLED when short", async () => {
    const { shop, gql } = await grantedShop(300, "standard");
    const page = `{ products(first: 190) { nodes { id featuredImage { url } priceRangeV2 { minVariantPrice { amount } maxVariantPrice { amount } } } } }`;
    expect((await gql(page)).extensions.cost.requestedQueryCost).toBe(952);
    await gql(page);
    const third = await gql(page);
    expect(third.errors[0].extensions.code).toBe("THROTTLED");
    expect(third.extensions.cost.throttleStatus.restoreRate).toBe(100);
    expect(third.extensions.cost.throttleStatus.currentlyAvailable).toBeLessThan(952);
    expect((await fakeState("shopify", `shop=${shop}`)).calls.throttled).toBeGreaterThan(0);
  });

  it("runs a bulk operation: CREATED → RUNNING → COMPLETED, JSONL with children under __parentId", async () => {
    const { gql } = await grantedShop(3);
    const run = await gql(
      `mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id status } userErrors { message } } }`,
      { q: `{ products { edges { node { id title variants { edges { node { id sku } } } } } } }` },
    );
    expect(run.extensions.cost.requestedQueryCost).toBe(10);
    const op = run.data.bulkOperationRunQuery.bulkOperation;
    expect(op.status).toBe("CREATED");
    const poll = () =>
      gql(`query($id: ID!) { node(id: $id) { ... on BulkOperation { status objectCount rootObjectCount url } } }`, {
        id: op.id,
      });
    expect((await poll()).data.node.status).toBe("RUNNING");
    const done = (await poll()).data.node;
    expect(done).toMatchObject({ status: "COMPLETED", objectCount: "9", rootObjectCount: "3" });
    const lines = (await (await fetch(done.url)).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ id: "gid://shopify/Product/1000000", title: "Product 0" });
    expect(lines[1]).toEqual({
      id: "gid://shopify/ProductVariant/20000000",
      sku: "SKU-0-0",
      __parentId: "gid://shopify/Product/1000000",
    });
    expect(lines).toHaveLength(9);
  });

  it("reads one product with nested variants and images, pages its variants, and answers product: null once deleted", async () => {
    const { shop, gql } = await grantedShop(2);
    await control("shopify", "product", { shop, index: 1, variants: 5 });
    const query = `query($id: ID!, $after: String) { product(id: $id) { id options { name optionValues { name } }
      images(first: 1) { nodes { url } } variants(first: 2, after: $after) { pageInfo { hasNextPage endCursor }
      nodes { sku selectedOptions { name value } } } } }`;
    const first = await gql(query, { id: "gid://shopify/Product/1000001" });
    // 1 + options 2 + images (2 + 1) + variants (2 + 2 × 2)
    expect(first.extensions.cost.requestedQueryCost).toBe(1 + 2 + 3 + 6);
    expect(first.data.product.options).toEqual([
      { name: "Size", optionValues: ["S", "M", "L", "XL"].map((name) => ({ name })) },
      { name: "Colour", optionValues: [{ name: "Blue" }, { name: "Red" }] },
    ]);
    expect(first.data.product.variants.nodes.map((v: any) => v.sku)).toEqual(["SKU-1-0", "SKU-1-1"]);
    const next = await gql(query, {
      id: "gid://shopify/Product/1000001",
      after: first.data.product.variants.pageInfo.endCursor,
    });
    expect(next.data.product.variants.nodes.map((v: any) => v.sku)).toEqual(["SKU-1-2", "SKU-1-3"]);
    await control("shopify", "product", { shop, index: 1, delete: true });
    const gone = await gql(query, { id: "gid://shopify/Product/1000001" });
    expect(gone.data).toEqual({ product: null });
    expect(gone.extensions.cost.actualQueryCost).toBe(0);
  });

  it("a bulk query without a connection, or with an unknown field, is a userError", async () => {
    const { gql } = await grantedShop(1);
    const run = (q: string) =>
      gql(
        `mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { message } } }`,
        {
          q,
        },
      );
    expect((await run(`{ shop { name } }`)).data.bulkOperationRunQuery.userErrors[0].message).toMatch(
      /at least one connection/,
    );
    expect(
      (await run(`{ products { edges { node { nope } } } }`)).data.bulkOperationRunQuery.userErrors[0].message,
    ).toMatch(/Field 'nope' doesn't exist on type 'Product'/);
  });
});

describe("the Shopify fake's consent screen", () => {
  const authorize = (shop: string, params: Record<string, string>) =>
    fetch(`${env.FAKE_SHOPIFY}/${shop}/admin/oauth/authorize?${new URLSearchParams(params)}`, { redirect: "manual" });

  it("shows the app and its scopes (escaped), and Install app redirects with a Shopify-signed query", async () => {
    const shop = uniqueShop();
    const params = {
      client_id: TEST_SECRETS.SHOPIFY_API_KEY,
      scope: "read_products,<script>",
      redirect_uri: "https://worker.test/shopify/callback",
      state: "ab".repeat(32),
    };
    const page = await authorize(shop, params);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain("<code>read_products</code>");
    expect(html).toContain("&lt;script&gt;");
    expect(html).not.toContain("<script>");
    expect(html).toContain(">Install app</button>");
    const action = /<form method="get" action="([^"]+)">/.exec(html)![1]!;
    const hidden = Object.fromEntries(
      [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
        m[1]!,
        m[2]!.replaceAll("&lt;", "<").replaceAll("&gt;", ">"),
      ]),
    );
    const click = await fetch(`${env.FAKE_SHOPIFY}${action}?${new URLSearchParams(hidden)}`, { redirect: "manual" });
    expect(click.status).toBe(302);
    const location = new URL(click.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe("https://worker.test/shopify/callback");
    const q = location.searchParams;
    expect([...q.keys()].sort()).toEqual(["code", "hmac", "host", "shop", "state", "timestamp"]);
    expect(q.get("shop")).toBe(shop);
    expect(q.get("state")).toBe(params.state);
    expect(atob(q.get("host")!)).toBe(`admin.shopify.com/store/${shop.split(".")[0]}`);
    expect(Math.abs(Number(q.get("timestamp")) - Date.now() / 1000)).toBeLessThan(5);
    // Shopify's rule, written out: sorted, URLSearchParams-encoded, without hmac; hex HMAC-SHA256.
    const message = new URLSearchParams(
      [...q.entries()].filter(([k]) => k !== "hmac").sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    expect(q.get("hmac")).toBe(toHex(await hmacSha256(TEST_SECRETS.SHOPIFY_API_SECRET, message.toString())));
  });

  it("an unknown client_id gets Shopify's error page, and no code", async () => {
    const res = await authorize(uniqueShop(), {
      client_id: "someone-else",
      scope: "read_products",
      redirect_uri: "https://worker.test/shopify/callback",
      state: "x",
    });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("Could not find Shopify API application with api_key someone-else");
    expect(html).not.toContain("Install app");
  });
});
