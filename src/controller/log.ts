/** Where the controller machinery reports what it cannot throw to a caller (a dropped watch, a failed retry). */
export type Log = (message: string) => void;

export const logToStderr: Log = (message) => {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
};

export const discardLog: Log = () => {};
