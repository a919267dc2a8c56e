using System;
using System.Diagnostics;
using FapiLog.Loki;
using Snappier;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>The protobuf push body, byte for byte, against an encoding made outside this code base.</summary>
public sealed class LokiConformanceTests
{
    /// <summary>
    /// The PushRequest below, written from the intended values (Loki's pkg/push/push.proto field numbers) and encoded by
    /// protobufjs: two streams in level order, labels sorted and escaped as Prometheus label syntax (<c>\\</c>, <c>\"</c>
    /// and <c>\n</c>; a tab and non-ASCII as they are), an entry with trace_id and span_id as structured metadata, one
    /// whose nanoseconds are zero (left out, as proto3 does), and one just before the epoch (seconds -1, nanos 999999900).
    /// The lines are this sink's rendering: a change to the line format changes these bytes too.
    /// </summary>
    private static readonly string s_golden = string.Concat(
        "0ac1030a457b6170703d2273686f70222c206c6576656c3d22696e666f222c20706174683d22433a5c5c6c6f6773205c22785c225c6e6e65",
        "787409c3bc6ec3af20e282acf09f9880227d12e6010a0b0880e2cfaa0610bc99ef3a128b017b226c6576656c223a22696e666f222c226d65",
        "7373616765223a224f72646572203120706c6163656420627920616c69636520666f7220392e35222c226576656e74223a224f7264657250",
        "6c61636564222c226576656e745f6964223a352c224f726465724964223a312c22437573746f6d6572223a22616c696365222c22416d6f75",
        "6e74223a392e357d1a2c0a0874726163655f6964122030616637363531393136636434336464383434386562323131633830333139631a1b",
        "0a077370616e5f6964121062376164366237313639323033333331128e010a060881e2cfaa061283017b226c6576656c223a22696e666f22",
        "2c226d657373616765223a224f72646572203320706c6163656420627920626f6220666f722031222c226576656e74223a224f7264657250",
        "6c61636564222c226576656e745f6964223a352c224f726465724964223a332c22437573746f6d6572223a22626f62222c22416d6f756e74",
        "223a317d0ac0020a467b6170703d2273686f70222c206c6576656c3d226572726f72222c20706174683d22433a5c5c6c6f6773205c22785c",
        "225c6e6e65787409c3bc6ec3af20e282acf09f9880227d12f5010a1108ffffffffffffffffff01109c93ebdc0312df017b226c6576656c22",
        "3a226572726f72222c226d657373616765223a225061796d656e74206661696c656420666f72206f726465722032222c226576656e74223a",
        "225061796d656e744661696c6564222c226576656e745f6964223a372c224f726465724964223a322c22657863657074696f6e223a7b2274",
        "797065223a2253797374656d2e496e76616c69644f7065726174696f6e457863657074696f6e222c226d657373616765223a226e6f222c22",
        "737461636b223a2253797374656d2e496e76616c69644f7065726174696f6e457863657074696f6e3a206e6f227d7d");

    [Fact]
    public void The_protobuf_body_is_byte_for_byte_what_an_independent_encoder_makes_of_the_same_push_request()
    {
        var encoder = new LokiBatchEncoder(LokiFormat.Protobuf, gzip: false, 1 << 20, 256_000,
            [new("path", "C:\\logs \"x\"\nnext\tünï €😀"), new("app", "shop")]);
        long epoch = DateTime.UnixEpoch.Ticks;
        var records = new LogRecord[3];
        LokiTestEvents.Order(ref records[0], epoch + 17_000_000_000_000_000L + 1234567, 1, "alice", 9.5m,
            ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c"), ActivitySpanId.CreateFromString("b7ad6b7169203331"));
        LokiTestEvents.Payment(ref records[1], epoch - 1, 2, new InvalidOperationException("no"));
        LokiTestEvents.Order(ref records[2], epoch + 17_000_000_010_000_000L, 3, "bob", 1m);
        encoder.Prepare(LokiTestEvents.Batch(records));

        Assert.Equal(3, encoder.SerializeNext(0, out ArraySegment<byte> serialized));
        Assert.Equal(s_golden, Convert.ToHexStringLower(serialized));

        // What goes on the wire is that, snappy block-compressed.
        Assert.Equal(3, encoder.EncodeNext(0, out ArraySegment<byte> body));
        Assert.Equal(s_golden, Convert.ToHexStringLower(Snappy.DecompressToArray(body.AsSpan())));
    }
}
