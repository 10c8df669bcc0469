// release-command and run-command become the words after the image, split like a shell splits and nothing else.
import { describe, expect, it } from 'vitest';
import { commandWords, WordsError } from '../../../src/inputs/words';

describe('commandWords', () => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['   \n\t ', []],
    ['bin/rails db:migrate', ['bin/rails', 'db:migrate']],
    ['  spaced   out  ', ['spaced', 'out']],
    ['one\ntwo\r\nthree', ['one', 'two', 'three']],
    ["sh -c 'bin/migrate && bin/seed'", ['sh', '-c', 'bin/migrate && bin/seed']],
    ['echo "a b" c', ['echo', 'a b', 'c']],
    ['echo "say \\"hi\\" \\$HOME \\\\ \\`x\\` \\n"', ['echo', 'say "hi" $HOME \\ `x` \\n']],
    ["echo 'it''s'", ['echo', 'its']],
    ['echo \'"\' "\'"', ['echo', '"', "'"]],
    ['echo a\\ b', ['echo', 'a b']],
    ['echo one \\\ntwo', ['echo', 'one', 'two']],
    ["echo ''", ['echo', '']],
    ['echo ""x', ['echo', 'x']],
    ['echo $(touch /tmp/pwned) `id` $HOME; rm -rf / | cat & *', ['echo', '$(touch', '/tmp/pwned)', '`id`', '$HOME;', 'rm', '-rf', '/', '|', 'cat', '&', '*']],
    ["sh -c 'echo $(id -u); exit 7'", ['sh', '-c', 'echo $(id -u); exit 7']],
    ["printf '%s\\n' 'line one\nline two'", ['printf', '%s\\n', 'line one\nline two']],
  ];
  it.each(cases)('%j', (text, words) => {
    expect(commandWords(text)).toEqual(words);
  });

  it.each([
    ["echo 'open", "a ' opened at character 6 is never closed"],
    ['echo "open', 'a " opened at character 6 is never closed'],
    ['echo \\', 'the command ends with a lone backslash'],
  ])('refuses %j: %s', (text, message) => {
    expect(() => commandWords(text)).toThrow(WordsError);
    expect(() => commandWords(text)).toThrow(message);
  });
});
