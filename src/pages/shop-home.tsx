import { Layout } from "./layout";

export interface ShopHomeProps {
  shop: string;
  userUuid: string;
  /** Products in the last good sync; null when none finished yet. */
  productCount: number | null;
  /** ISO time of the last good sync; null when none finished yet. */
  lastSyncedAt: string | null;
}

/**
 * What a merchant sees when they open the app from their Shopify admin (`GET /shopify`): which
 * shop and account this is, and how far the catalogue sync got. Every value is escaped by JSX;
 * no token or secret is ever passed in.
 */
export function ShopHome(props: ShopHomeProps) {
  return (
    <Layout title={`Messenger sales data for ${props.shop}`}>
      <p>This shop is connected. Its products are kept in step with your Messenger sales bot.</p>
      <dl>
        <dt>Shop</dt>
        <dd>{props.shop}</dd>
        <dt>Account</dt>
        <dd>
          <code>{props.userUuid}</code>
        </dd>
        <dt>Products</dt>
        <dd>{props.productCount === null ? "not synced yet" : String(props.productCount)}</dd>
        <dt>Last sync</dt>
        <dd>
          {props.lastSyncedAt === null ? "not yet" : <time datetime={props.lastSyncedAt}>{props.lastSyncedAt}</time>}
        </dd>
      </dl>
    </Layout>
  );
}
