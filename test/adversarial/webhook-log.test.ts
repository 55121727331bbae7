import { describe, expect, it } from "vitest";
import { logsOfEachTest, messengerWebhook, uniqueId } from "../helpers";

/**
 * The "Received webhook event for page <id>: <entry>" line logs an allow-list of an entry's fields:
 * a shared location's coordinates, Meta's NLP of the customer's text and fields Meta adds later
 * never reach the log; texts and links are there as their length only.
 */

const logs = logsOfEachTest();

describe("what a Messenger delivery leaves in the log", () => {
  it("ids, times and lengths; no coordinates, no NLP fragments, no unlisted field", async () => {
    const page = uniqueId();
    const customer = uniqueId();
    const text = "meet me at Baker Street 221b tomorrow 5pm";
    const res = await messengerWebhook({
      object: "page",
      entry: [
        {
          id: page,
          time: 1764662400000,
          messaging: [
            {
              sender: { id: customer },
              recipient: { id: page },
              timestamp: 1764662400000,
              message: {
                mid: "m_located",
                text,
                nlp: {
                  entities: { "wit$datetime:datetime": [{ body: "tomorrow 5pm", value: "2026-12-03T17:00:00" }] },
                  traits: { wit$sentiment: [{ value: "neutral", confidence: 0.9 }] },
                  detected_locales: [{ locale: "en_XX", confidence: 0.99 }],
                },
                attachments: [
                  {
                    type: "location",
                    title: "Customer's home",
                    payload: { coordinates: { lat: 51.523767, long: -0.158555 }, url: "https://maps.example/221b" },
                  },
                ],
                quick_reply: { payload: "ADDRESS_CONFIRMED" },
              },
              customer_profile: { phone: "+44 20 7946 0000" },
            },
          ],
        },
      ],
    });
    expect(res.status).toBe(200);
    const line = logs.lines.find((l) => l.includes(`Received webhook event for page ${page}:`));
    expect(line).toBeDefined();
    expect(line).toContain(`"text\\":\\"[${text.length} chars]\\"`);
    expect(line).toContain(`"id\\":\\"${customer}\\"`);
    expect(line).toContain("m_located");
    expect(line).toContain('\\"type\\":\\"location\\"');
    for (const words of [
      "51.523767",
      "-0.158555",
      "coordinates",
      "tomorrow",
      "wit$",
      "nlp",
      "en_XX",
      "neutral",
      "Customer's home",
      "maps.example",
      "ADDRESS_CONFIRMED",
      "customer_profile",
      "7946",
      "Baker",
    ])
      expect(line, words).not.toContain(words);
  });
});
