/** Types for zlint.mjs (test-only installer of zlint and certtool). */
export declare const APT_PACKAGES: string[];
export declare const CACHE_DIR: string;
export declare function systemDebianMirror(): string;
export declare function ensureAptPackages(): void;
export declare function ensureZlint(): string;
export declare function ensureCaTestTools(): { zlint: string; certtool: string };
