namespace FapiLog.Generator;

public sealed partial class FapiLogGenerator
{
    /// <summary>Names of the pipeline stages, for the incrementality tests.</summary>
    public static class StepNames
    {
        /// <summary>The parse of each [FapiLog] method.</summary>
        public const string Parse = "FapiLog.Parse";

        /// <summary>The per-method diagnostics.</summary>
        public const string MethodDiagnostics = "FapiLog.MethodDiagnostics";

        /// <summary>FAPI018 for [method: FapiLog] on field-like events.</summary>
        public const string EventDiagnostics = "FapiLog.EventDiagnostics";

        /// <summary>The explicit EventIds, collected for the duplicate check.</summary>
        public const string EventIds = "FapiLog.EventIds";

        /// <summary>All explicit EventIds of the compilation.</summary>
        public const string AllEventIds = "FapiLog.AllEventIds";

        /// <summary>The duplicate-EventId diagnostics.</summary>
        public const string EventIdDiagnostics = "FapiLog.EventIdDiagnostics";

        /// <summary>The valid method models.</summary>
        public const string Methods = "FapiLog.Methods";

        /// <summary>All valid method models of the compilation.</summary>
        public const string AllMethods = "FapiLog.AllMethods";

        /// <summary>Whether the compilation has any valid log method.</summary>
        public const string HasMethods = "FapiLog.HasMethods";

        /// <summary>That, with the MSBuild property.</summary>
        public const string HookWithOption = "FapiLog.HookWithOption";

        /// <summary>That, with the module-initializer support.</summary>
        public const string HookWithSupport = "FapiLog.HookWithSupport";

        /// <summary>The methods grouped per containing type.</summary>
        public const string Types = "FapiLog.Types";

        /// <summary>Whether the consumer's language version has nullable reference types (C# 8).</summary>
        public const string NullableAnnotations = "FapiLog.NullableAnnotations";

        /// <summary>The types, each with that.</summary>
        public const string TypesWithNullableAnnotations = "FapiLog.TypesWithNullableAnnotations";

        /// <summary>The FapiLogShutdownHook MSBuild property.</summary>
        public const string HookOption = "FapiLog.HookOption";

        /// <summary>Whether the consumer's compilation has [ModuleInitializer].</summary>
        public const string HookSupport = "FapiLog.HookSupport";

        /// <summary>Everything the module-initializer output needs.</summary>
        public const string Hook = "FapiLog.Hook";
    }
}
