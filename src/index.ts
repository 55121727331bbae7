import { app } from "./app";
import { consumeDeadJobs, consumeJobs } from "./jobs/consumer";
import { runScheduled } from "./jobs/schedule";

export { Catalogue } from "./catalogue/durable-object";
export { Conversation } from "./conversations/durable-object";
export { BackupScratch } from "./backup/scratch";

export default {
  fetch: app.fetch,
  async scheduled(controller, env, _ctx) {
    await runScheduled(controller.cron, env);
  },
  async queue(batch, env, _ctx) {
    if (batch.queue.endsWith("-dead")) await consumeDeadJobs(batch, env);
    else await consumeJobs(batch, env);
  },
} satisfies ExportedHandler<Env, unknown>;
