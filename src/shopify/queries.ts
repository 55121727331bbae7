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

/** What the products file holds of a product: the same selection for a page and for a bulk run. */
const PRODUCT_FIELDS = /* GraphQL */ `
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
        featuredImage {
          url
          altText
        }
        priceRangeV2 {
          minVariantPrice {
            amount
            currencyCode
          }
          maxVariantPrice {
            amount
            currencyCode
          }
        }
`;

/**
 * One page of products. A product costs 5 points (itself and four objects), so a page of
 * PRODUCTS_PAGE_SIZE costs 2 + 5 × size; a shop answering MAX_COST_EXCEEDED gets smaller pages.
 */
export const PRODUCTS_PAGE_QUERY = /* GraphQL */ `
  query ShopProducts($first: Int!, $cursor: String) {
    products(first: $first, after: $cursor, sortKey: ID) {
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
${PRODUCT_FIELDS}
      }
    }
  }
`;
/** 150 products: 752 points, a quarter under the limit. */
export const PRODUCTS_PAGE_SIZE = 150;

/** The whole catalogue as a bulk operation (no cost limit; no `first`). */
export const PRODUCTS_BULK_QUERY = /* GraphQL */ `
  {
    products(sortKey: ID) {
      edges {
        node {
${PRODUCT_FIELDS}
        }
      }
    }
  }
`;

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
