import { parse, validate } from "graphql";
import { describe, expect, it } from "vitest";
import * as queries from "../../src/shopify/queries";
import { hasConnection } from "../../dev/fakes/shopify-bulk";
import { MUTATION_COST, SINGLE_QUERY_MAX_COST, requestedQueryCost } from "../../dev/fakes/shopify-cost";
import { adminSchema } from "../../dev/fakes/shopify-schema";

/** The worker's documents priced by Shopify's documented rules, from their text. */
const schema = adminSchema();
const cost = (text: string, variables: Record<string, unknown> = {}) =>
  requestedQueryCost(schema, parse(text), variables);
/** A quarter of headroom: real costs can be lower than the formula, never higher. */
const BUDGET = SINGLE_QUERY_MAX_COST * 0.8;

describe("the documented cost rules", () => {
  it("price the issue's catalogue query at 2 + 250 × 5 = 1,252", () => {
    const text = `{ products(first: 250) { pageInfo { hasNextPage endCursor } nodes { id title
      featuredImage { url } priceRangeV2 { minVariantPrice { amount } maxVariantPrice { amount } } } } }`;
    expect(cost(text)).toBe(1252);
  });
  it("multiply nested connections and count edges like nodes", () => {
    expect(cost(`{ products(first: 10) { edges { cursor node { id variants(first: 5) { nodes { id } } } } } }`)).toBe(
      2 + 10 * (1 + 2 + 5 * 1),
    );
    expect(cost(`query($n: Int!) { products(first: $n) { nodes { id } } }`, { n: 7 })).toBe(2 + 7);
  });
  it("charge a mutation 10 and a scalar nothing", () => {
    expect(
      cost(
        `mutation { webhookSubscriptionDelete(id: "gid://shopify/WebhookSubscription/1") { deletedWebhookSubscriptionId } }`,
      ),
    ).toBe(MUTATION_COST);
    expect(cost(`{ shop { name } }`)).toBe(1);
  });
});

describe("every document the worker sends", () => {
  const variablesFor: Record<string, Record<string, unknown>> = {
    PRODUCTS_PAGE_QUERY: {
      first: queries.PRODUCTS_PAGE_SIZE,
      cursor: null,
      variants: queries.VARIANTS_PER_LISTED_PRODUCT,
    },
    PRODUCTS_BY_ID_QUERY: {
      ids: Array.from({ length: queries.PRODUCTS_PER_READ }, (_, i) => `gid://shopify/Product/${i + 1}`),
      variants: queries.variantsPerRead(queries.PRODUCTS_PER_READ),
    },
    PRODUCT_VARIANTS_QUERY: { id: "gid://shopify/Product/1", first: queries.VARIANTS_PAGE_SIZE, cursor: null },
    PRODUCT_VERSIONS_QUERY: { first: queries.RECONCILE_PAGE_SIZE, cursor: null },
    BULK_OPERATION_RUN_QUERY: { query: queries.PRODUCTS_BULK_QUERY },
    BULK_OPERATION_QUERY: { id: "gid://shopify/BulkOperation/1" },
    WEBHOOK_SUBSCRIPTION_CREATE: { topic: "PRODUCTS_UPDATE", callbackUrl: "https://w.test/shopify/webhook" },
  };
  const documents = Object.entries(queries as Record<string, unknown>).filter(
    (e): e is [string, string] => typeof e[1] === "string" && e[0] !== "PRODUCTS_BULK_QUERY",
  );

  it.each(documents)("%s validates against Shopify's schema and costs under 80 %% of the limit", (name, text) => {
    const document = parse(text);
    expect(validate(schema, document).map((e) => e.message)).toEqual([]);
    expect(requestedQueryCost(schema, document, variablesFor[name] ?? {})).toBeLessThanOrEqual(BUDGET);
  });

  it("prices each catalogue document as its comment says, and sizes are what make them fit", () => {
    const page = (first: number, variants = queries.VARIANTS_PER_LISTED_PRODUCT) =>
      cost(queries.PRODUCTS_PAGE_QUERY, { first, variants });
    expect(page(queries.PRODUCTS_PAGE_SIZE)).toBe(2 + 15 * (16 + 2 + 3 * 10));
    expect(page(30)).toBeGreaterThan(SINGLE_QUERY_MAX_COST);
    const byId = (count: number) =>
      cost(queries.PRODUCTS_BY_ID_QUERY, {
        ids: Array.from({ length: count }, (_, i) => `gid://shopify/Product/${i + 1}`),
        variants: queries.variantsPerRead(count),
      });
    // Priced per id asked for, on the Product fields its fragment selects.
    expect(byId(1)).toBe(16 + 2 + 3 * 100);
    expect(byId(2)).toBe(2 * (16 + 2 + 3 * 100));
    expect(byId(queries.PRODUCTS_PER_READ)).toBe(15 * (16 + 2 + 3 * 11));
    for (let n = 1; n <= queries.PRODUCTS_PER_READ; n++) expect(byId(n)).toBeLessThanOrEqual(BUDGET);
    expect(cost(queries.PRODUCT_VARIANTS_QUERY, { id: "x", first: queries.VARIANTS_PAGE_SIZE })).toBe(1 + 2 + 3 * 200);
    expect(cost(queries.PRODUCT_VERSIONS_QUERY, { first: queries.RECONCILE_PAGE_SIZE })).toBe(2 + 250);
  });

  it("the bulk query validates and has the connection a bulk operation needs", () => {
    const document = parse(queries.PRODUCTS_BULK_QUERY);
    // `first` is not needed in a bulk query; everything else must exist.
    expect(validate(schema, document).map((e) => e.message)).toEqual([]);
    expect(hasConnection(schema, document)).toBe(true);
  });
});
