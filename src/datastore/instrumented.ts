import type { DatastoreDriver } from './driver.ts';

export type DatastoreOperation = 'check' | 'ensure_tenant' | 'delete_tenant';

/** Told about every datastore operation as it ends (metrics). */
export type DatastoreObserver = (outcome: {
  driver: string;
  operation: DatastoreOperation;
  seconds: number;
  failed: boolean;
}) => void;

/** `driver` with each operation's outcome and duration reported to `observe`; results and errors pass through. */
export function instrumentDriver(driver: DatastoreDriver, name: string, observe: DatastoreObserver): DatastoreDriver {
  const timed = async <T>(operation: DatastoreOperation, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    let failed = true;
    try {
      const result = await call();
      failed = false;
      return result;
    } finally {
      observe({ driver: name, operation, seconds: (performance.now() - started) / 1000, failed });
    }
  };
  return {
    check: () => timed('check', () => driver.check()),
    ensureTenant: (storage, owner) => timed('ensure_tenant', () => driver.ensureTenant(storage, owner)),
    deleteTenant: (storage, owner) => timed('delete_tenant', () => driver.deleteTenant(storage, owner)),
    close: () => driver.close(),
  };
}
