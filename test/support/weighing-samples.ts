/** Texts whose weight differs from their length: CJK and emoji weigh 2, a URL 23. */
export const WEIGHING_SAMPLES = [
  'Plain ASCII text',
  '日本語のテキスト',
  'Emoji 😀🎉 and a family 👨‍👩‍👧 and a flag 🇫🇷',
  'Read https://example.com/a/very/long/path/that/is/longer/than/twenty-three/characters now',
  '한국어 and 中文 mixed with café and naïve',
  'x'.repeat(300),
];
