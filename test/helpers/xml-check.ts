// A small well-formedness check for the JUnit file (no XML parser ships with node): balanced tags,
// quoted attributes, only the five predefined entities.
export function parseXmlTags(text: string): { name: string; attrs: Record<string, string>; text: string }[] {
  const body = text.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const elements: { name: string; attrs: Record<string, string>; text: string }[] = [];
  const re = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(body)) !== null) {
    pos = re.lastIndex;
    if (m[5] !== undefined) {
      if (/&(?!(lt|gt|amp|quot|apos);)/.test(m[5])) throw new Error(`bad entity in text: ${m[5].slice(0, 40)}`);
      const top = elements[elements.length - 1];
      if (top && stack.length) top.text += m[5];
      continue;
    }
    const [, close, name, attrText, selfClose] = m as unknown as [string, string, string, string, string];
    if (close) {
      if (stack.pop() !== name) throw new Error(`unbalanced </${name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([\w.-]+)="([^"]*)"/g)) attrs[a[1] as string] = (a[2] as string).replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
    elements.push({ name, attrs, text: '' });
    if (!selfClose) stack.push(name);
  }
  if (pos !== body.length || stack.length) throw new Error(`not well-formed near offset ${pos}`);
  return elements;
}
