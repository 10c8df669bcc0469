import { InputError } from '../../src/inputs/read';

/** The InputError that reading the inputs throws; any other outcome fails the test. */
export function inputErrorOf(read: () => unknown): InputError {
  try {
    read();
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error('expected an InputError');
}
