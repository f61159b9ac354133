/**
 * The rule the stores' shared paths rest on, enforced in the test suite: a record a store holds is
 * never changed in place (docs/store.md). With BOS_FREEZE_RECORDS=1 (set for every test run) the
 * stores deep-freeze each record they hold, so any change in place throws and fails the test.
 */
const FREEZE_RECORDS = process.env.BOS_FREEZE_RECORDS === '1';

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

/** `rec`, frozen in the test suite: held by a store, shared with its readers. */
export function held<T>(rec: T): T {
  if (FREEZE_RECORDS) deepFreeze(rec);
  return rec;
}
