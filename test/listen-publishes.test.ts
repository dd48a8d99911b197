// What a publish notification may carry: a payload from another writer (or an older batchcast) is checked
// field by field, and anything malformed is ignored (the server logs it and the pointer poll covers it).
import { describe, expect, it } from 'vitest';
import { parseNotice } from '../src/serve/generations/publish-listener.ts';

describe('parseNotice', () => {
  it('reads what publishRun sends', () => {
    expect(parseNotice('{"job":"demo","date":"2026-11-20","run_id":42,"previous_run_id":41,"action":"rollback"}')).toEqual({
      job: 'demo',
      date: '2026-11-20',
      runId: 42,
      previousRunId: 41,
      action: 'rollback',
    });
    expect(parseNotice('{"job":"demo","date":"2026-11-20","run_id":42,"previous_run_id":null,"action":"publish"}')).toEqual({
      job: 'demo',
      date: '2026-11-20',
      runId: 42,
      previousRunId: null,
      action: 'publish',
    });
  });

  it('ignores anything malformed', () => {
    for (const payload of [
      undefined,
      '',
      'not json',
      'null',
      '[]',
      '42',
      '{"date":"2026-11-20","run_id":42}',
      '{"job":"demo","run_id":42}',
      '{"job":"demo","date":"yesterday","run_id":42}',
      '{"job":"demo","date":"2026-11-20","run_id":"42"}',
      '{"job":"demo","date":"2026-11-20","run_id":4.2}',
      '{"job":7,"date":"2026-11-20","run_id":42}',
    ]) {
      expect(parseNotice(payload), String(payload)).toBeUndefined();
    }
  });
});
