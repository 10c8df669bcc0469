/**
 * A command line as the words a container gets after its image (`docker run … IMAGE WORD…`): split
 * like a POSIX shell splits, and nothing else a shell does. Blanks and newlines separate words;
 * '…' keeps everything inside as it is; "…" too, except that \" \\ \$ and \` stand for the
 * character; a backslash outside quotes keeps the next character. $, `, ;, |, &, * and the like
 * are plain characters: nothing is expanded or run on the runner or the server. A shell, when the
 * command needs one, is the container's: `sh -c 'bin/migrate && bin/seed'`.
 */
export function commandWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new WordsError(`a ' opened at character ${i + 1} is never closed`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1])) j++;
        word += text[j];
      }
      if (j >= text.length) throw new WordsError(`a " opened at character ${i + 1} is never closed`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new WordsError('the command ends with a lone backslash');
      // A backslash before a newline joins the lines, as in a shell.
      if (text[i + 1] !== '\n') {
        word += text[i + 1];
        inWord = true;
      }
      i++;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

export class WordsError extends Error {}
