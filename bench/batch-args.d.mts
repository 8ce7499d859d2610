/** The arguments of `embedrail batch <input> --out <out> --journal <journal> --base-url <url>`, then `more`. */
export function batchCommandArgs(input: string, url: string, out: string, journal: string, ...more: string[]): string[];
