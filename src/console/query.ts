import { z } from "zod";
import { badRequest } from "../lib/errors";

const schema = z.object({
  q: z.string().max(200, { error: "q is longer than 200 characters" }).optional(),
  page: z
    .string()
    .regex(/^[1-9]\d{0,5}$/, { error: "page must be a whole number from 1" })
    .optional(),
  per_page: z
    .string()
    .regex(/^\d{1,3}$/, { error: "per_page must be a whole number from 1 to 500" })
    .refine((v) => Number(v) >= 1 && Number(v) <= 500, { error: "per_page must be a whole number from 1 to 500" })
    .optional(),
  fresh: z.literal("1", { error: "fresh must be 1" }).optional(),
  notice: z.string().optional(),
});

/**
 * The merchant list's query (`q`, `page`, `per_page`, and `fresh=1` to read Spaces again now);
 * 400 for anything malformed.
 */
export function listQuery(query: Record<string, string>): {
  search: string;
  page: number;
  perPage?: number;
  fresh: boolean;
} {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => i.message).join("; "));
  return {
    search: parsed.data.q ?? "",
    page: Number(parsed.data.page ?? "1"),
    perPage: parsed.data.per_page ? Number(parsed.data.per_page) : undefined,
    fresh: parsed.data.fresh === "1",
  };
}
