/*
 * bench: `usher bench`, the load generator.
 *
 *   usher bench [-c CONNS] [-d SECONDS | -n COUNT] [-s SIZE] [-w SEC] [--reset]
 *               [--proxy v1|v2] [--json] connect|pingpong|bulk|udp ADDRESS
 *
 *   connect   per transaction: connect, send SIZE bytes, read SIZE back, close
 *   pingpong  CONNS persistent connections, request and reply in lockstep
 *   bulk      CONNS connections streaming both ways at once: MB/s
 *   udp       CONNS sockets, each with one request outstanding; loss counted
 *
 * One epoll loop in one process, so the generator costs about one core.
 * Each transaction's latency goes into a log-bucketed histogram (p50, p99,
 * p99.9, max); errors are counted by kind.  On a terminal a progress line
 * is updated each second.  --reset closes connect-mode connections with a
 * reset (SO_LINGER 0), so the client's ports do not pile up in TIME_WAIT.
 * --proxy starts each stream connection with a PROXY header (v1 or v2)
 * naming the connection's own address, as a balancer in front would: the
 * load for a server with `proxy_protocol` set.
 */
#ifndef USHER_BENCH_H
#define USHER_BENCH_H

/* Run `usher bench` with its own arguments (argv[0] is "bench").  Returns the exit status. */
int bench_main(int argc, char **argv);

#endif
