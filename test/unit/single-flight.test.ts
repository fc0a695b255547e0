import { SingleFlight } from '../../shared/single-flight';

describe('SingleFlight', () => {
  it('callers of one key share the work in flight; other keys run their own', async () => {
    const flight = new SingleFlight<string>();
    let runs = 0;
    let release: (value: string) => void = () => {};
    const work = () => {
      runs++;
      return new Promise<string>((resolve) => {
        release = resolve;
      });
    };
    const first = flight.run('a', work);
    const second = flight.run('a', work);
    expect(second).toBe(first);
    const other = flight.run('b', async () => 'b-result');
    release('a-result');
    await expect(Promise.all([first, second, other])).resolves.toEqual(['a-result', 'a-result', 'b-result']);
    expect(runs).toBe(1);
  });

  it('forgets the work once it settles, so a failure is not remembered', async () => {
    const flight = new SingleFlight<string>();
    await expect(flight.run('a', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await expect(flight.run('a', async () => 'up')).resolves.toBe('up');
  });
});
