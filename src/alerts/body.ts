/** What an alert is about and the JSON `ALERTS_WEBHOOK_URL` receives (see ./alerts.ts). */

export const ALERT_EVENTS = [
  "shop_token",
  "page_token",
  "shop_subscription",
  "page_subscription",
  "backup",
  "backup_restore_test",
  "job",
] as const;

export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** The JSON an alert receiver gets. */
export interface AlertBody {
  event: AlertEvent;
  at: string;
  shop?: string;
  page_id?: string;
  state: string;
  detail: string;
}
