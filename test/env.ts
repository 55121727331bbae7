/** Secrets and settings of the test worker (fixed, fake values; never real credentials). */
export const TEST_SECRETS = {
  SHOPIFY_API_KEY: "test-shopify-key",
  SHOPIFY_API_SECRET: "test-shopify-secret-0123456789",
  FACEBOOK_APP_ID: "1234567890",
  FACEBOOK_APP_SECRET: "test-facebook-secret-0123456789",
  FACEBOOK_VERIFY_TOKEN: "test-verify-token-0123456789",
  SPACES_KEY: "S3RVER",
  SPACES_SECRET: "S3RVER",
  TOKEN_ENCRYPTION_KEY: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
  ADMIN_TOKEN: "test-admin-token-0123456789",
};
export const TEST_BUCKET = "test-bucket";
export const GRAPH_VERSION = "v25.0";
