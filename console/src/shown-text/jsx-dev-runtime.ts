/** The development build's side of ./jsx-runtime.ts (`vite dev`): the same text, React's checks. */
import { Fragment, jsxDEV as reactJsxDEV } from 'react/jsx-dev-runtime';
import { shownProps, type Props } from './jsx-runtime.js';

type Rest = Parameters<typeof reactJsxDEV> extends [unknown, unknown, ...infer R] ? R : never;

export function jsxDEV(type: Parameters<typeof reactJsxDEV>[0], props: Props, ...rest: Rest): ReturnType<typeof reactJsxDEV> {
  return reactJsxDEV(type, shownProps(props), ...rest);
}

export { Fragment };
