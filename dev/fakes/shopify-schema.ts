import { buildSchema, type GraphQLSchema } from "graphql";

/**
 * A subset of Shopify's GraphQL Admin API schema (2026-10), with Shopify's own type, field,
 * argument and enum names, so a document that would not validate at Shopify does not validate here.
 * Resolvers are the plain objects and functions the fake hands to graphql-js (see shopify.ts).
 */
export const ADMIN_SCHEMA_SDL = /* GraphQL */ `
  schema {
    query: QueryRoot
    mutation: Mutation
  }

  scalar URL
  scalar DateTime
  scalar Decimal
  scalar HTML
  scalar UnsignedInt64

  interface Node {
    id: ID!
  }

  enum CurrencyCode {
    USD
    EUR
    GBP
    CAD
  }
  enum ProductStatus {
    ACTIVE
    ARCHIVED
    DRAFT
  }
  enum ProductSortKeys {
    CREATED_AT
    ID
    INVENTORY_TOTAL
    PRODUCT_TYPE
    PUBLISHED_AT
    RELEVANCE
    TITLE
    UPDATED_AT
    VENDOR
  }
  enum CountPrecision {
    AT_LEAST
    EXACT
  }
  enum WebhookSubscriptionTopic {
    APP_SCOPES_UPDATE
    APP_UNINSTALLED
    INVENTORY_LEVELS_UPDATE
    PRODUCTS_CREATE
    PRODUCTS_DELETE
    PRODUCTS_UPDATE
    SHOP_UPDATE
  }
  enum WebhookSubscriptionFormat {
    JSON
    XML
  }
  enum BulkOperationStatus {
    CANCELED
    CANCELING
    COMPLETED
    CREATED
    EXPIRED
    FAILED
    RUNNING
  }
  enum BulkOperationErrorCode {
    ACCESS_DENIED
    INTERNAL_SERVER_ERROR
    TIMEOUT
  }
  enum BulkOperationType {
    MUTATION
    QUERY
  }
  enum BulkOperationUserErrorCode {
    INVALID
    OPERATION_IN_PROGRESS
  }

  type PageInfo {
    hasNextPage: Boolean!
    hasPreviousPage: Boolean!
    startCursor: String
    endCursor: String
  }

  type Domain {
    id: ID!
    host: String!
    url: URL!
  }
  type ShopPlan {
    displayName: String!
    partnerDevelopment: Boolean!
    shopifyPlus: Boolean!
  }
  type Shop implements Node {
    id: ID!
    name: String!
    email: String!
    contactEmail: String!
    myshopifyDomain: String!
    primaryDomain: Domain!
    currencyCode: CurrencyCode!
    description: String
    ianaTimezone: String!
    plan: ShopPlan!
  }

  type MoneyV2 {
    amount: Decimal!
    currencyCode: CurrencyCode!
  }
  type ProductPriceRangeV2 {
    maxVariantPrice: MoneyV2!
    minVariantPrice: MoneyV2!
  }
  type Image {
    id: ID
    url(transform: String): URL!
    altText: String
    width: Int
    height: Int
  }
  type ImageEdge {
    cursor: String!
    node: Image!
  }
  type ImageConnection {
    edges: [ImageEdge!]!
    nodes: [Image!]!
    pageInfo: PageInfo!
  }
  type ProductOptionValue {
    id: ID!
    name: String!
  }
  type ProductOption implements Node {
    id: ID!
    name: String!
    position: Int!
    values: [String!]!
    optionValues: [ProductOptionValue!]!
  }
  type SelectedOption {
    name: String!
    value: String!
  }
  type InventoryItem implements Node {
    id: ID!
    sku: String
    tracked: Boolean!
  }
  type ProductVariant implements Node {
    id: ID!
    title: String!
    sku: String
    price: Decimal!
    compareAtPrice: Decimal
    availableForSale: Boolean!
    inventoryQuantity: Int
    selectedOptions: [SelectedOption!]!
    image: Image
    inventoryItem: InventoryItem!
    updatedAt: DateTime!
  }
  type ProductVariantEdge {
    cursor: String!
    node: ProductVariant!
  }
  type ProductVariantConnection {
    edges: [ProductVariantEdge!]!
    nodes: [ProductVariant!]!
    pageInfo: PageInfo!
  }
  type Product implements Node {
    id: ID!
    title: String!
    handle: String!
    status: ProductStatus!
    vendor: String!
    productType: String!
    tags: [String!]!
    description(truncateAt: Int): String!
    descriptionHtml: HTML!
    onlineStoreUrl: URL
    totalInventory: Int!
    createdAt: DateTime!
    updatedAt: DateTime!
    featuredImage: Image
    priceRangeV2: ProductPriceRangeV2!
    options(first: Int): [ProductOption!]!
    images(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): ImageConnection!
    variants(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): ProductVariantConnection!
  }
  type ProductEdge {
    cursor: String!
    node: Product!
  }
  type ProductConnection {
    edges: [ProductEdge!]!
    nodes: [Product!]!
    pageInfo: PageInfo!
  }
  type Count {
    count: Int!
    precision: CountPrecision!
  }

  type WebhookHttpEndpoint {
    callbackUrl: URL!
  }
  type WebhookEventBridgeEndpoint {
    arn: String!
  }
  type WebhookPubSubEndpoint {
    pubSubProject: String!
    pubSubTopic: String!
  }
  union WebhookSubscriptionEndpoint = WebhookEventBridgeEndpoint | WebhookHttpEndpoint | WebhookPubSubEndpoint
  type WebhookSubscription implements Node {
    id: ID!
    topic: WebhookSubscriptionTopic!
    format: WebhookSubscriptionFormat!
    includeFields: [String!]!
    endpoint: WebhookSubscriptionEndpoint!
    createdAt: DateTime!
    updatedAt: DateTime!
  }
  type WebhookSubscriptionEdge {
    cursor: String!
    node: WebhookSubscription!
  }
  type WebhookSubscriptionConnection {
    edges: [WebhookSubscriptionEdge!]!
    nodes: [WebhookSubscription!]!
    pageInfo: PageInfo!
  }

  type BulkOperation implements Node {
    id: ID!
    status: BulkOperationStatus!
    errorCode: BulkOperationErrorCode
    type: BulkOperationType!
    query: String!
    createdAt: DateTime!
    completedAt: DateTime
    objectCount: UnsignedInt64!
    rootObjectCount: UnsignedInt64!
    fileSize: UnsignedInt64
    url: URL
    partialDataUrl: URL
  }

  type QueryRoot {
    shop: Shop!
    product(id: ID!): Product
    products(
      first: Int
      after: String
      last: Int
      before: String
      query: String
      reverse: Boolean = false
      sortKey: ProductSortKeys = ID
    ): ProductConnection!
    productsCount(query: String, limit: Int = 10000): Count
    webhookSubscriptions(
      first: Int
      after: String
      last: Int
      before: String
      topics: [WebhookSubscriptionTopic!]
      callbackUrl: URL
      format: WebhookSubscriptionFormat
    ): WebhookSubscriptionConnection!
    node(id: ID!): Node
    nodes(ids: [ID!]!): [Node]!
    currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  }

  type UserError {
    field: [String!]
    message: String!
  }
  type BulkOperationUserError {
    code: BulkOperationUserErrorCode
    field: [String!]
    message: String!
  }
  input WebhookSubscriptionInput {
    callbackUrl: URL
    format: WebhookSubscriptionFormat
    includeFields: [String!]
    metafieldNamespaces: [String!]
  }
  type WebhookSubscriptionCreatePayload {
    webhookSubscription: WebhookSubscription
    userErrors: [UserError!]!
  }
  type WebhookSubscriptionDeletePayload {
    deletedWebhookSubscriptionId: ID
    userErrors: [UserError!]!
  }
  type BulkOperationRunQueryPayload {
    bulkOperation: BulkOperation
    userErrors: [BulkOperationUserError!]!
  }
  type Mutation {
    webhookSubscriptionCreate(
      topic: WebhookSubscriptionTopic!
      webhookSubscription: WebhookSubscriptionInput!
    ): WebhookSubscriptionCreatePayload
    webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
    bulkOperationRunQuery(query: String!, groupObjects: Boolean = true): BulkOperationRunQueryPayload
  }
`;

let schema: GraphQLSchema | null = null;

/** The schema, built once. */
export function adminSchema(): GraphQLSchema {
  schema ??= buildSchema(ADMIN_SCHEMA_SDL);
  return schema;
}
