/**
 * The console's JSX runtime (console/vite.config.ts makes every .tsx file of the console use it):
 * React's own, except that text an element of ours shows — its string children and its `title`,
 * `aria-label`, `alt` and `placeholder` props — goes through {@link printableJson} first. Much of
 * what the console shows is text a caller chose (descriptions, tags, aliases, policies, principal
 * names, certificate subjects, error messages that echo a request); raw, its bidirectional controls
 * would reorder what the page shows and its control characters would hide in it. Here, in one
 * place, no view can forget it. Newlines stay (a pretty-printed policy's lines in a <pre>); inside
 * a JSON string they are escaped already, and elsewhere HTML shows them as a space. Form fields'
 * `value`s are left alone: what a form sends back must be what the service holds.
 */
import { Fragment, jsx as reactJsx, jsxs as reactJsxs } from 'react/jsx-runtime';
import { printableJson } from '../../../src/core/caller-text.js';

export type Props = Record<string, unknown> & { children?: unknown };

const TEXT_PROPS = ['title', 'aria-label', 'alt', 'placeholder'] as const;

function shown(value: unknown): unknown {
  if (typeof value === 'string') return printableJson(value);
  if (Array.isArray(value) && value.some((item) => typeof item === 'string' || Array.isArray(item))) return value.map(shown);
  return value;
}

export function shownProps(props: Props): Props {
  let copy: Props | undefined;
  const set = (name: string, value: unknown) => {
    if (value === props[name]) return;
    copy ??= { ...props };
    copy[name] = value;
  };
  if ('children' in props) set('children', shown(props.children));
  for (const name of TEXT_PROPS) if (typeof props[name] === 'string') set(name, shown(props[name]));
  return copy ?? props;
}

export function jsx(type: Parameters<typeof reactJsx>[0], props: Props, key?: Parameters<typeof reactJsx>[2]): ReturnType<typeof reactJsx> {
  return reactJsx(type, shownProps(props), key);
}

export function jsxs(type: Parameters<typeof reactJsxs>[0], props: Props, key?: Parameters<typeof reactJsxs>[2]): ReturnType<typeof reactJsxs> {
  return reactJsxs(type, shownProps(props), key);
}

export { Fragment };
