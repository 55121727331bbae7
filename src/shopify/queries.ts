/**
 * GraphQL Admin API documents. Each stays well under Shopify's 1,000-point single-query limit by
 * the documented cost rules (test/unit/shopify-query-cost.test.ts computes it from these texts).
 */

export const SHOP_QUERY = /* GraphQL */ `
  query ShopMetadata {
    shop {
      id
      name
      email
      myshopifyDomain
      primaryDomain {
        url
        host
      }
      currencyCode
      description
      plan {
        displayName
      }
      ianaTimezone
      contactEmail
    }
  }
`;

/** Images kept of a product (its gallery's first ones), paged or bulk alike. */
export const IMAGES_PER_PRODUCT = 10;

/** What the products file holds of a product itself: the same selection everywhere. */
const PRODUCT_SCALARS = /* GraphQL */ `
        id
        title
        handle
        status
        vendor
        productType
        tags
        description(truncateAt: 500)
        onlineStoreUrl
        totalInventory
        createdAt
        updatedAt
        options {
          name
          optionValues {
            name
          }
        }
        featuredImage {
          url
          altText
        }
`;

/** What the file holds of a variant: what a customer asks about before buying. */
const VARIANT_FIELDS = /* GraphQL */ `
            id
            title
            sku
            price
            compareAtPrice
            availableForSale
            inventoryQuantity
            selectedOptions {
              name
              value
            }
            image {
              url
              altText
            }
`;

/** What the catalogue keeps of a product, with its images and its first `$variants` variants. */
const PRODUCT_WITH_VARIANTS = /* GraphQL */ `
${PRODUCT_SCALARS}
        images(first: ${IMAGES_PER_PRODUCT}) {
          nodes {
            url
            altText
          }
        }
        variants(first: $variants) {
          pageInfo {
            hasNextPage
            endCursor
          }
          nodes {
${VARIANT_FIELDS}
          }
        }
`;

/**
 * A variant costs 3 points (itself, its selected options, its image) and a product without its
 * variants 16 (itself, its options and their values 2, its featured image, and a connection of
 * IMAGES_PER_PRODUCT images, 2 + 10). A page of PRODUCTS_PAGE_SIZE products with their first
 * VARIANTS_PER_LISTED_PRODUCT variants costs 2 + 15 × (16 + 2 + 3 × 10) = 722; a product with more
 * variants than that has the rest read with PRODUCT_VARIANTS_QUERY.
 */
export const PRODUCTS_PAGE_QUERY = /* GraphQL */ `
  query ShopProducts($first: Int!, $cursor: String, $variants: Int!) {
    products(first: $first, after: $cursor, sortKey: ID) {
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
${PRODUCT_WITH_VARIANTS}
      }
    }
  }
`;
export const PRODUCTS_PAGE_SIZE = 15;
export const VARIANTS_PER_LISTED_PRODUCT = 10;

/**
 * Products by id, each with its first `$variants` variants: 16 + 2 + 3 × variants points a product,
 * so one product with 100 variants costs 318 and PRODUCTS_PER_READ products with
 * `variantsPerRead(15)` = 11 variants 15 × 51 = 765. One call for the products a burst of webhooks
 * changed; a product with more variants has the rest read with PRODUCT_VARIANTS_QUERY.
 */
export const PRODUCTS_BY_ID_QUERY = /* GraphQL */ `
  query ProductsById($ids: [ID!]!, $variants: Int!) {
    nodes(ids: $ids) {
      ... on Product {
${PRODUCT_WITH_VARIANTS}
      }
    }
  }
`;
export const PRODUCTS_PER_READ = 15;
const PRODUCT_READ_BUDGET = 800;
/** Variants asked for with each of `count` products read together: as many as keep the call under 800 points, at most 100. */
export const variantsPerRead = (count: number) =>
  Math.max(1, Math.min(100, Math.floor((PRODUCT_READ_BUDGET / count - 18) / 3)));

/** The rest of a product's variants (up to 2,048), VARIANTS_PAGE_SIZE a call: 1 + 2 + 3 × 200 = 603 points. */
export const PRODUCT_VARIANTS_QUERY = /* GraphQL */ `
  query ProductVariants($id: ID!, $first: Int!, $cursor: String) {
    product(id: $id) {
      id
      variants(first: $first, after: $cursor) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
${VARIANT_FIELDS}
        }
      }
    }
  }
`;
export const VARIANTS_PAGE_SIZE = 200;

/**
 * The whole catalogue as a bulk operation (no cost limit, no `first`): each image and each variant
 * comes as a line of its own after its product's, with `__parentId`.
 */
export const PRODUCTS_BULK_QUERY = /* GraphQL */ `
  {
    products(sortKey: ID) {
      edges {
        node {
${PRODUCT_SCALARS}
          images {
            edges {
              node {
                id
                url
                altText
              }
            }
          }
          variants {
            edges {
              node {
${VARIANT_FIELDS}
              }
            }
          }
        }
      }
    }
  }
`;

/** The cheap list a daily reconciliation compares: 2 + 250 = 252 points a page of RECONCILE_PAGE_SIZE. */
export const PRODUCT_VERSIONS_QUERY = /* GraphQL */ `
  query ProductVersions($first: Int!, $cursor: String) {
    products(first: $first, after: $cursor, sortKey: ID) {
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        updatedAt
      }
    }
  }
`;
export const RECONCILE_PAGE_SIZE = 250;

/** How big the catalogue is (`limit: null`: an exact count, however many). */
export const PRODUCTS_COUNT_QUERY = /* GraphQL */ `
  query ProductsCount {
    productsCount(limit: null) {
      count
      precision
    }
  }
`;

export const BULK_OPERATION_RUN_QUERY = /* GraphQL */ `
  mutation BulkProducts($query: String!) {
    bulkOperationRunQuery(query: $query) {
      bulkOperation {
        id
        status
      }
      userErrors {
        code
        field
        message
      }
    }
  }
`;

export const BULK_OPERATION_QUERY = /* GraphQL */ `
  query BulkOperationStatus($id: ID!) {
    node(id: $id) {
      ... on BulkOperation {
        id
        status
        errorCode
        objectCount
        url
      }
    }
  }
`;

export const WEBHOOK_SUBSCRIPTIONS_QUERY = /* GraphQL */ `
  query WebhookSubscriptions($cursor: String) {
    webhookSubscriptions(first: 100, after: $cursor) {
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        topic
        includeFields
        endpoint {
          __typename
          ... on WebhookHttpEndpoint {
            callbackUrl
          }
        }
      }
    }
  }
`;

export const WEBHOOK_SUBSCRIPTION_CREATE = /* GraphQL */ `
  mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $callbackUrl: URL!, $includeFields: [String!]) {
    webhookSubscriptionCreate(
      topic: $topic
      webhookSubscription: { callbackUrl: $callbackUrl, format: JSON, includeFields: $includeFields }
    ) {
      webhookSubscription {
        id
        topic
      }
      userErrors {
        field
        message
      }
    }
  }
`;
