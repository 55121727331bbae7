/**
 * Graph calls one poll job may make. A job also spends about as many Durable Object calls and a
 * few D1 queries, so this keeps a job far inside the 1,000 subrequests of an invocation; a page
 * with a longer history is continued by follow-up jobs from the saved cursor.
 */
export const POLL_CALLS_PER_JOB = 50;
