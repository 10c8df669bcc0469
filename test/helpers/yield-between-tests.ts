// Many unit tests run bash synchronously (spawnSync). A file of them never lets its worker's event loop
// turn, so the worker cannot answer vitest's own messages and, on a slow machine, vitest reports
// "Timeout calling onTaskUpdate" after 60 s. One turn of the loop after each test is enough.
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
