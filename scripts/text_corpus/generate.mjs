// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Writes what socialdesk's text counting is checked against, from the official libraries:
//
//   tests/fixtures/text/corpus.json        strings with the counts twitter-text and
//                                          @atproto/api report for them
//   src/socialdesk/text/_twitter_data.py   the data twitter-text's X count depends on:
//                                          its TLD list and the emoji sequences its emoji
//                                          parser (twemoji-parser 11) treats as one emoji
//
// Deterministic: the same lock file and seed give byte-identical output.
// Run with `npm ci && node generate.mjs` in this folder (see README.md).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RichText } from '@atproto/api';
import twemojiRegexModule from 'twemoji-parser/dist/lib/regex.js';
import { parse as parseEmoji } from 'twemoji-parser';
import twitter from 'twitter-text';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const SEED = 20261123;
const RANDOM_ENTRIES = 3000;

// ---------------------------------------------------------------- seeded randomness

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(SEED);
const int = (n) => Math.floor(random() * n);
const pick = (items) => items[int(items.length)];

// ---------------------------------------------------------------- twemoji-parser's emoji set
//
// twitter-text counts "an emoji" as whatever twemoji-parser's generated regex matches. That
// regex is a finite language (alternations, classes, `?`), so we expand it into the set of
// strings it can match, then keep those the parser returns whole on their own. Scanning text
// for the longest member of that set at each position reproduces the parser (checked below).

const TEXT_STYLE_GUARD = '\u0000';

function expandRegexSource(source) {
  let i = 0;
  const readUnit = () => {
    if (source[i] === '\\') {
      const next = source[i + 1];
      if (next === 'u') {
        const unit = String.fromCharCode(parseInt(source.slice(i + 2, i + 6), 16));
        i += 6;
        return unit;
      }
      i += 2;
      return next;
    }
    const unit = source[i];
    i += 1;
    return unit;
  };
  const parseClass = () => {
    i += 1; // [
    const units = [];
    while (source[i] !== ']') {
      const start = readUnit();
      if (source[i] === '-' && source[i + 1] !== ']') {
        i += 1;
        const end = readUnit();
        for (let c = start.charCodeAt(0); c <= end.charCodeAt(0); c += 1) {
          units.push(String.fromCharCode(c));
        }
      } else {
        units.push(start);
      }
    }
    i += 1; // ]
    return units;
  };
  const parseAlternation = () => {
    const options = [...parseSequence()];
    while (source[i] === '|') {
      i += 1;
      for (const s of parseSequence()) options.push(s);
    }
    return options;
  };
  const parseSequence = () => {
    let strings = [''];
    while (i < source.length && source[i] !== '|' && source[i] !== ')') {
      let atom;
      if (source.startsWith('(?!\\ufe0e)', i)) {
        // "Not followed by U+FE0E (text style)": kept as a marker at the end of the string.
        i += '(?!\\ufe0e)'.length;
        atom = [TEXT_STYLE_GUARD];
      } else if (source.startsWith('(?', i) && !source.startsWith('(?:', i)) {
        throw new Error(`unsupported group at ${i}: teach the expander about it`);
      } else if (source[i] === '(') {
        i += source.startsWith('(?:', i) ? 3 : 1;
        atom = parseAlternation();
        if (source[i] !== ')') throw new Error(`unbalanced group at ${i}`);
        i += 1;
      } else if (source[i] === '[') {
        atom = parseClass();
      } else {
        atom = [readUnit()];
      }
      if (source[i] === '?') {
        i += 1;
        atom = [...atom, ''];
      } else if ('*+{'.includes(source[i])) {
        throw new Error(`unbounded quantifier at ${i}: the regex is no longer finite`);
      }
      const next = [];
      for (const head of strings) for (const tail of atom) next.push(head + tail);
      strings = next;
    }
    return strings;
  };
  const all = parseAlternation();
  if (i !== source.length) throw new Error(`unparsed regex tail at ${i}`);
  return all;
}

const twemojiRegex = twemojiRegexModule.default ?? twemojiRegexModule;
const matchesWhole = (s) => {
  const found = parseEmoji(s);
  return found.length === 1 && found[0].text === s;
};
// A guard followed by another character inside a sequence is settled right there: it holds
// unless that character is U+FE0E. Only a guard at the end depends on the text around it.
const settleGuards = (s) => {
  const at = s.indexOf(TEXT_STYLE_GUARD);
  if (at === -1 || at === s.length - 1) return s;
  if (s[at + 1] === '\ufe0e') return null;
  return settleGuards(s.slice(0, at) + s.slice(at + 1));
};
const expanded = [
  ...new Set(expandRegexSource(twemojiRegex.source).map(settleGuards).filter((s) => s !== null)),
];
// Sequences that are one emoji wherever they stand...
const twemojiSet = expanded.filter((s) => !s.endsWith(TEXT_STYLE_GUARD) && matchesWhole(s)).sort();
const twemojiLookup = new Set(twemojiSet);
// ...and bare symbols that are one emoji unless U+FE0E (text style) follows them.
const guardedSet = expanded
  .filter((s) => s.endsWith(TEXT_STYLE_GUARD))
  .map((s) => s.slice(0, -1))
  .filter((s) => !twemojiLookup.has(s) && matchesWhole(s))
  .sort();
const guardedLookup = new Set(guardedSet);
const longestEmoji = Math.max(...twemojiSet.map((s) => [...s].length));

/** The emoji twemoji-parser finds, predicted with the longest-match rule the Python side uses. */
function predictEmoji(text) {
  const points = [...text];
  const found = [];
  for (let p = 0; p < points.length; ) {
    let matched = 0;
    for (let n = Math.min(longestEmoji, points.length - p); n > 0; n -= 1) {
      const candidate = points.slice(p, p + n).join('');
      const guardedOk = guardedLookup.has(candidate) && points[p + n] !== '\ufe0e';
      if (twemojiLookup.has(candidate) || guardedOk) {
        matched = n;
        break;
      }
    }
    if (matched) {
      found.push(points.slice(p, p + matched).join(''));
      p += matched;
    } else {
      p += 1;
    }
  }
  return found;
}

// ---------------------------------------------------------------- twitter-text's TLD list

function alternatives(regex) {
  const source = regex.source;
  const body = source.slice(source.indexOf('(?:(?:') + 6, source.indexOf(')(?='));
  return body.split('|');
}
const tlds = [
  ...new Set([...alternatives(twitter.regexen.validGTLD), ...alternatives(twitter.regexen.validCCTLD)]),
].sort();

// ---------------------------------------------------------------- pools of text

const ascii = `the quick brown fox jumps over lazy dog launch today new product team sale
  spring summer update release notes thanks everyone join us live webinar at noon read more
  here link below big news coming soon Monday Friday it's don't we're "quoted" 'single'
  hello world ok yes no maybe 2026 100% $20 v1.2.3 e.g. i.e. etc. a b c I A Z x10
  socialdesk API SDK URL HTTP JSON C++ C# F# node.js file.txt README.md v2.0 3.14 1,000`
  .split(/\s+/)
  .filter(Boolean);
const cjk = ['日本語', 'こんにちは', '新製品', '発売', '中文', '你好世界', '漢字', 'カタカナ',
  'ｶﾀｶﾅ', '、', '。', '「引用」', '（括弧）', '！', '？', '：', '一二三', '〜', '・', '　'];
const hangul = ['안녕하세요', '한국어', '새 제품', '각', '\u1100\u1161\u11a8', '\u1112\u1161\u11ab',
  '\u110b\u1175', 'ㄱㄴㄷ', '\u1100\u1161', '가\u11a8', '힣'];
const arabic = ['مرحبا', 'العربية', 'مُحَمَّد', 'شكرا', '\u200fنص\u200f', '١٢٣', 'لا', 'سلام عليكم',
  '\u061c', 'فارسی', 'עברית', 'שָׁלוֹם'];
const indic = ['नमस्ते', 'क्षत्रिय', 'श्री', 'हिन्दी', 'क्षि', 'द्व्य', 'स्त्री', 'ज्ञ', 'कि', 'क्\u200dष', 'क्\u200cष',
  'தமிழ்', 'க்ஷ', 'ஸ்ரீ', 'கொ', 'நன்றி', 'ক্ষ', 'বাংলা', 'ક્ષ', 'ગુજરાતી', 'ക്ഷ', 'മലയാളം', 'ତ୍ର', 'త్ర',
  'ਪੰਜਾਬੀ', 'ಕನ್ನಡ', 'ไทย', 'สวัสดี', 'ກາ', 'བོད་', 'မြန်မာ', 'ខ្មែរ', 'සිංහල'];
const combining = ['e\u0301', 'cafe\u0301', 'n\u0303', 'a\u0300\u0301\u0302\u0303', 'Z\u0351\u036b\u0343\u036a',
  'o\u0308\u0304', '\u0301', 'A\u030a', '\u212b', '\u2126', 'ﬁ', 'Å', 'ǅ', 'x\u20dd', 'i\u0307',
  'u\u035c\u0361', 'e\ufe0f', 'a\u200db', 'a\u200cb', '\u00a0', 'ß', 'İ', 'ﬀ', 'ℌ'];
const emoji = ['😀', '😂', '🥲', '🫠', '🫨', '🙂\u200d↔️', '❤', '❤️', '❤︎', '♥', '☺', '☺️', '✔', '✔️',
  '✅', '©', '©️', '®', '®️', '™', '™️', '‼️', '⁉️', '♾️', '♾', '⌚', '⭐', '🌟', '🔥', '💯', '🚀',
  '👍', '👍🏻', '👍🏽', '👍🏿', '👋🏼', '🤙🏾', '🫶🏽', '🧑\u200d💻', '👩\u200d💻', '👨🏽\u200d🚀',
  '👩\u200d❤️\u200d👨', '👨\u200d👩\u200d👧\u200d👦', '👩\u200d👩\u200d👦', '🧑\u200d🤝\u200d🧑',
  '🧑🏻\u200d🤝\u200d🧑🏿', '👁️\u200d🗨️', '🏳️\u200d🌈', '🏳️\u200d⚧️', '🏴\u200d☠️', '❤️\u200d🔥',
  '❤️\u200d🩹', '😮\u200d💨', '🐈\u200d⬛', '🐻\u200d❄️', '🏃\u200d♀️', '🏃\u200d♀️\u200d➡️',
  '🤵\u200d♂️', '🦸🏿\u200d♀️', '💁🏼\u200d♂️', '🫱🏻\u200d🫲🏿', '👨🏻\u200d🦰', '🇫🇷', '🇯🇵',
  '🇺🇸', '🇩🇪', '🇺🇦', '🇪🇺', '🇺🇳', '🇦', '🇦🇦', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '🏴󠁧󠁢󠁷󠁬󠁳󠁿', '1️⃣', '#️⃣',
  '*️⃣', '1⃣', '#⃣', '🔟', '☝️', '☝🏽', '✌️', '⛹🏽\u200d♀️', '🕵️\u200d♂️', '🧔\u200d♀️', '🦰',
  '🏻', '\u200d', '\ufe0f', '\ufe0e', '🅰️', '🈚', '🀄', '〰️', '〽️', '㊗️', '↔️', '↩️', '▶️',
  '🔴', '🟢', '🟪', '🪩', '🪿', '🫎', '🐦\u200d🔥', '🍋\u200d🟩', '⛓️\u200d💥', '🧑\u200d🧑\u200d🧒'];
const twemojiSample = twemojiSet.filter((_, index) => index % 7 === 0);
const schemes = ['https://', 'http://', '', '', 'HTTPS://', 'Http://', 'ftp://', 'www.'];
const domains = ['example.com', 'www.example.org', 'sub.domain.co.uk', 'bit.ly', 'example.io',
  'shop.example.store', 'example.xyz', 'EXAMPLE.COM', 'foo.bar', 'a.b', 'example.co', 'example.museum',
  'müller.de', '例え.jp', 'xn--mller-kva.de', 'пример.рф', 'localhost', '192.168.0.1', 'example.c',
  'my-site.net', 'my_site.net', '-bad.com', 'example.com.', 'socialdesk.app', 'news.ycombinator.com',
  'en.wikipedia.org', 'example.onion', 'ex.am.ple.com', 'a.co', 'x.com', 'bsky.app', 'mastodon.social'];
const paths = ['', '', '/', '/path', '/path/to/page.html', '/wiki/Foo_(bar)', '/wiki/A_(b_(c))',
  '/search?q=a+b&lang=en', '?q=1', '?q=1&x=', '#frag', '/a/b/', '/@user/', '/@user', ':8080/x', ':443',
  '/ümlaut', '/путь', '/パス', '/p.', '/p-', '/p_', '/~user/', '/a%20b', '/a|b', '/a[1]', '/index.php?id=5#top',
  '/x?utm_source=socialdesk&utm_medium=social&utm_campaign=spring_2026', '/' + 'long'.repeat(30)];
const wrappers = [['', ''], ['', ''], ['', ''], ['(', ')'], ['', '.'], ['', ','], ['', '!'], ['', '?'],
  ['', ')'], ['', '...'], ['"', '"'], ['<', '>'], ['[', ']'], ['', ':'], ['', ';'], ['「', '」'], ['', '…']];
const tco = ['https://t.co/abc123', 'http://t.co/AbC', 'https://t.co/' + 'a'.repeat(41), 'https://t.co/x/extra',
  'https://t.co/abc?x=1'];
const mentions = ['@alice', '@Bob_99', '@a', '@' + 'x'.repeat(20), '@' + 'y'.repeat(25),
  '@alice@mastodon.social', '@bob@example.com', '@carol@sub.example.co.uk', 'bob@example.com', '@',
  '＠fullwidth', '@alice.', '@alice!', '@_under', 'RT @rt_user:', '.@dotted', '@user/list-name', '@ü',
  '@alice@', 'email:me@example.org'];
const hashtags = ['#hello', '#日本', '#한국어', '#_underscore', '#123', '#2026goals', '#tag1#tag2', '＃fullwidth',
  '#café', '#C', '#c++', '#under_score_', '#ZWNJ\u200ctag', '#हिन्दी', '#العربية', '#', '##double', '#tag!',
  '&#39;', '#️⃣', '#emoji😀', '#a-b', '#a.b', '#with\u0301mark', '#' + 'long'.repeat(40), 'x#notatag',
  '#http://example.com', '#Monday_Motivation'];
const breaks = ['\n', '\r\n', '\n\n', '\r\n\r\n', '\t', '  ', '\u00a0', '\u3000', '\u2028', '\r', '\u200b'];
const odd = ['\ufeff', '\ufffe', '\uffff', '\u202e', '\u200e', '\u200f', '\u2066', '\u0000', '\u007f', '\u0085',
  '\u2060', '\u00ad', '\u180e', '\ue000', '\u{f0000}', '\u{1d400}', '\u{20000}', '𝓗𝓮𝓵𝓵𝓸', '\u{e0041}'];

function randomUrl() {
  if (random() < 0.05) return pick(tco);
  const scheme = pick(schemes);
  const url = scheme + pick(domains) + pick(paths);
  const [open, close] = pick(wrappers);
  return open + url + close;
}

const generators = [
  [30, () => pick(ascii)],
  [6, () => pick(cjk)],
  [4, () => pick(hangul)],
  [4, () => pick(arabic)],
  [6, () => pick(indic)],
  [4, () => pick(combining)],
  [8, () => pick(emoji)],
  [3, () => pick(twemojiSample)],
  [7, randomUrl],
  [4, () => pick(mentions)],
  [4, () => pick(hashtags)],
  [5, () => pick(breaks)],
  [1, () => pick(odd)],
  [3, () => pick(ascii).normalize('NFD') + pick(combining).normalize('NFD')],
];
const totalWeight = generators.reduce((sum, [w]) => sum + w, 0);

function randomToken() {
  let r = random() * totalWeight;
  for (const [weight, make] of generators) {
    r -= weight;
    if (r < 0) return make();
  }
  return pick(ascii);
}

function randomText() {
  // Lengths spread around X's 280 and Bluesky's 300 so the "valid" flag is exercised both ways.
  const tokens = 1 + int(random() < 0.15 ? 110 : 50);
  let text = '';
  for (let t = 0; t < tokens; t += 1) {
    const token = randomToken();
    const joiner = random() < 0.75 ? ' ' : random() < 0.5 ? '' : pick([...breaks, ',', '.', ' - ', '/']);
    text += (t === 0 ? '' : joiner) + token;
  }
  return text;
}

// ---------------------------------------------------------------- hand-picked cases

const handPicked = [
  '', ' ', '\n', 'a', 'a'.repeat(280), 'a'.repeat(281), '日'.repeat(140), '日'.repeat(141),
  'é'.repeat(280), 'e\u0301'.repeat(140), '😀'.repeat(140), '😀'.repeat(141),
  '👨\u200d👩\u200d👧\u200d👦'.repeat(140), '🧑\u200d💻'.repeat(56), '🇫🇷🇩🇪🇯🇵', '🇫', '🇫🇷🇫',
  'https://example.com', 'example.com', 'www.example.com', 'http://localhost:3000', 'Visit example.com.',
  'Visit example.com/path.', '(see https://en.wikipedia.org/wiki/Foo_(bar))', 'https://example.com/?q=1.',
  'example.com?q=1', 'example.com:8080', 'example.com:8080/x', 'https://example.com:8080', 'foo.bar/baz',
  'a.b.c', 'file.txt', 'README.md', 'node.js', 'v1.2.3', 'e.g. this', 'end.Start', 'mail me@example.com',
  'https://t.co/abc123xyz', 'https://t.co/abc123xyz/more', 'https://t.co/' + 'a'.repeat(41),
  '-example.com', '_example.com', '/example.com', '.example.com', '#example.com', '@example.com',
  'xn--mller-kva.de', 'https://xn--mller-kva.de', 'https://müller.de/straße', 'müller.de',
  '例えexample.com', 'https://例え.jp', 'https://пример.рф/путь', 'http://192.168.0.1/x',
  'https://' + 'a'.repeat(70) + '.com', 'https://example.com/' + 'x'.repeat(4100),
  'example.com'.repeat(3), 'https://example.com https://example.org', 'https://example.comhttps://x.com',
  '"https://example.com"', '<https://example.com>', 'https://example.com/#anchor', 'https://a.co/@user/',
  'https://a.co/@user', 'https://example.com/a(b)c', 'https://example.com/a(b', 'HTTPS://EXAMPLE.COM/X',
  'https://example.com/' + '\u00e9'.repeat(3), 'https://example.com/\u0435\u0434',
  'x'.repeat(257) + ' https://example.com', 'x'.repeat(258) + ' https://example.com',
  '\ufeffhello', 'hello\ufeff', 'a\ufffeb', '\uffff', '\u202ehello', 'https://example.com\ufeff',
  '\r\n', 'a\r\nb', '\r\r\n\n', 'a\u0308', '\u0308', '\u1100\u1161\u11a8', '\u1100\u1100\u1161\u11a8\u11a8',
  'क्षि', 'क्\u200dषि', 'नमस्ते', 'अनुच्छेद', 'க்ஷ', 'ஸ்ரீ', 'ক্ষ্ম', 'ক্\u200dষ', 'द्\u200cध',
  '\u0915\u094d\u0937\u0903', 'ज्ञान', 'ഷ്ട്ര', 'ત્ર', 'ଷ୍ଟ୍ର', 'త్ర్య',
  '👍🏽', '👍\u{1f3fd}\u{1f3fd}', '🏽', 'a🏽', '1️⃣', '1⃣', '#️⃣', '#⃣', '#', '©', '©️', '☺', '☺️', '☺︎',
  '♾️', '\ufe0f', 'a\ufe0f', '❤️\u200d🔥', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '🏴\u{e0067}', '\u200d', '👨\u200d', '\u200d👨',
  '@alice@mastodon.social hello', '@alice', '#hashtag', '#123', '#日本語 #한국어',
  'Grüße aus München', 'ǅungla', 'ﬁx', '\u212b', '\u2126', 'ḉ', 'c\u0327\u0301', 'c\u0301\u0327',
  '\u0041\u030a\u0301', 'ᄀ', '가', '각', 'ᅡ', '\u3131',
  '\u2000\u2001\u200a\u200b\u200c\u200d\u200e\u200f\u2010\u2011\u201f\u2020\u2032\u2037\u2038',
  '\u10ff\u1100\u10ff', '\u0fff\u1000\u1100', '\u1fff\u2000\u200d\u200e\u200f\u2010\u201f\u2020\u2031\u2032\u2037\u2038',
  'Launch day! Our new app is live: https://socialdesk.app/launch?utm_source=x 🚀🚀 #launch @socialdesk',
  'Line one.\n\nLine two!\r\nLine three?',
];

// ---------------------------------------------------------------- build the corpus

function officialCounts(text) {
  const parsed = twitter.parseTweet(text);
  const rich = new RichText({ text });
  const entry = {
    text,
    x: parsed.weightedLength,
    x_valid: parsed.valid,
    graphemes: rich.graphemeLength,
    utf8: rich.unicodeText.length,
    utf16: text.length,
  };
  const urls = twitter.extractUrls(text);
  if (urls.length) entry.urls = urls;
  const tags = twitter.extractHashtags(text);
  if (tags.length) entry.hashtags = tags;
  return entry;
}

const seen = new Set();
const texts = [];
for (const text of handPicked) {
  if (!seen.has(text)) {
    seen.add(text);
    texts.push(text);
  }
}
while (texts.length < handPicked.length + RANDOM_ENTRIES) {
  const text = randomText();
  if (!seen.has(text)) {
    seen.add(text);
    texts.push(text);
  }
}

// Fail loudly if the longest-match rule ever parts ways with the real emoji parser.
const emojiProbe = [
  ...texts,
  ...twemojiSet,
  ...emoji,
  ...guardedSet.flatMap((s) => [s, `${s}\ufe0e`, `${s}\ufe0f`, `${s}\ufe0e\ufe0f`, `x${s}\u200d${s}`]),
];
for (const text of emojiProbe) {
  const want = parseEmoji(text.normalize()).map((e) => e.text).join(' | ');
  const got = predictEmoji(text.normalize()).join(' | ');
  if (want !== got) {
    throw new Error(`emoji prediction differs on ${JSON.stringify(text)}: ${want} vs ${got}`);
  }
}

const entries = texts.map(officialCounts);
const installedVersion = (name) =>
  JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
const versions = {
  'twitter-text': installedVersion('twitter-text'),
  '@atproto/api': installedVersion('@atproto/api'),
  'twemoji-parser': installedVersion('twemoji-parser'),
  node: process.versions.node,
  icu: process.versions.icu,
  unicode: process.versions.unicode,
};

const corpusLines = [
  '{',
  `"generator": "scripts/text_corpus/generate.mjs",`,
  `"seed": ${SEED},`,
  `"versions": ${JSON.stringify(versions)},`,
  `"count": ${entries.length},`,
  '"entries": [',
  entries.map((e) => JSON.stringify(e)).join(',\n'),
  ']',
  '}',
  '',
];
const corpusPath = join(repo, 'tests', 'fixtures', 'text', 'corpus.json');
writeFileSync(corpusPath, corpusLines.join('\n'));

// ---------------------------------------------------------------- the Python data module

function hexWords(strings) {
  return strings.map((s) => [...s].map((c) => c.codePointAt(0).toString(16)).join('-'));
}

function pythonStringBlock(words, indent = '    ', width = 96) {
  const lines = [];
  let line = '';
  for (const word of words) {
    if (line && indent.length + line.length + word.length + 4 > width) {
      lines.push(`${indent}"${line} "`);
      line = '';
    }
    line += (line ? ' ' : '') + word;
  }
  if (line) lines.push(`${indent}"${line}"`);
  return lines.join('\n');
}

const python = `# SPDX-License-Identifier: AGPL-3.0-or-later
# ruff: noqa: RUF001  (Cyrillic and Greek TLDs look like Latin letters, on purpose)
"""Data X's length count depends on, as twitter-text ${versions['twitter-text']} ships it.

Generated by scripts/text_corpus/generate.mjs from the npm packages pinned in its lock
file; do not edit by hand. Both lists are facts about those libraries (twitter-text and
twemoji-parser are Apache-2.0 / MIT), kept as data so our own counting code agrees with
them exactly:

- \`\`TLDS\`\`: the top-level domains twitter-text recognises when it finds links;
- \`\`EMOJI\`\`: every emoji sequence twemoji-parser ${versions['twemoji-parser']} (which twitter-text
  uses) matches as one emoji, as dash-joined hexadecimal code points. It predates Emoji
  12, so newer sequences are not in it and twitter-text counts their parts one by one.
"""

from __future__ import annotations

TLDS: frozenset[str] = frozenset(
    {
${tlds.map((tld) => `        ${JSON.stringify(tld)},`).join('\n')}
    }
)

_EMOJI_HEX = (
${pythonStringBlock(hexWords(twemojiSet))}
)

_GUARDED_HEX = (
${pythonStringBlock(hexWords(guardedSet))}
)


def _decode(words: str) -> frozenset[str]:
    return frozenset(
        "".join(chr(int(point, 16)) for point in word.split("-")) for word in words.split()
    )


EMOJI: frozenset[str] = _decode(_EMOJI_HEX)
EMOJI_UNLESS_TEXT_STYLE: frozenset[str] = _decode(_GUARDED_HEX)
`;
writeFileSync(join(repo, 'src', 'socialdesk', 'text', '_twitter_data.py'), python);

console.log(
  `corpus: ${entries.length} entries (${handPicked.length} hand-picked), ` +
    `${twemojiSet.length} + ${guardedSet.length} emoji sequences, ${tlds.length} TLDs`,
);
